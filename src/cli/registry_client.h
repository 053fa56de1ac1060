// The CLI's client of tandem's OCI distribution API (/v2/ on the control
// plane, registry_api.cc): what `tandem images build/push/pull/import` use to
// move blobs and manifests, with the tandem token as a Bearer credential.
// Blobs go up in chunks (POST, PATCH..., PUT ?digest=) so no request body
// exceeds the server's limit; every blob pulled is verified.
// Thread-safety: one RegistryClient per thread.
#pragma once

#include <string>

#include "common/http_client.h"
#include "common/status.h"

namespace tandem::cli {

struct PulledManifest {
  std::string bytes;
  std::string media_type;
  std::string digest;  // sha256 of bytes (checked against the server's header)
};

class RegistryClient {
 public:
  // `ca_file` ("" = the system's CAs) verifies an https:// server.
  RegistryClient(std::string server_url, std::string token, std::string ca_file = "");

  StatusOr<bool> HasBlob(const std::string& repo, const std::string& digest);
  // Uploads the file as blob `digest` of `repo` unless it is there already.
  Status PushBlob(const std::string& repo, const std::string& digest, const std::string& path);
  // PUTs a manifest under a tag or digest; returns its digest.
  StatusOr<std::string> PushManifest(const std::string& repo, const std::string& reference,
                                     const std::string& media_type, const std::string& bytes);
  StatusOr<PulledManifest> GetManifest(const std::string& repo, const std::string& reference);
  // Downloads a blob to `path` (temp file + rename), verifying its digest.
  Status PullBlob(const std::string& repo, const std::string& digest, const std::string& path);

 private:
  StatusOr<http::ClientResponse> Send(http::ClientRequest req);
  Status ErrorOf(const http::ClientResponse& res, const std::string& what) const;
  std::string server_;
  std::string token_;
  std::string ca_file_;
  http::Client client_;
};

}  // namespace tandem::cli
