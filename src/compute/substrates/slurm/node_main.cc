// tandem-slurm-node RUNNER < PAYLOAD
//
// What a Slurm batch script of the Slurm substrate exec's on the node when the
// job directory is not shared with the control plane (`compute.shared_fs:
// false`): the payload (node_job.h NodePayload, one line of JSON) arrives on
// stdin from the batch script itself, so nothing of the control plane's
// filesystem is needed. The node stages the job from the object store into
// a node-local directory, pulls its image, runs tandem-job-runner RUNNER under
// the step loop of tandem-slurm-step (step.h) and puts its results back in
// the object store (RunNodeJob). Exit status: as tandem-slurm-step's.
#include <iostream>
#include <iterator>
#include <string>

#include "common/json.h"
#include "compute/substrates/slurm/node_job.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: tandem-slurm-node RUNNER < PAYLOAD\n";
    return 2;
  }
  std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  tandem::Json j = tandem::Json::parse(text, nullptr, /*allow_exceptions=*/false);
  auto payload = tandem::compute::slurm::NodePayload::FromJson(j);
  if (!payload.ok()) {
    std::cerr << "tandem-slurm-node: " << payload.status().message() << "\n";
    return 2;
  }
  return tandem::compute::slurm::RunNodeJob(*payload, argv[1]);
}
