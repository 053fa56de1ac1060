// The 1-second-job overhead benchmark of compute_bench (see its header).
#pragma once

#include "bench_util.h"

namespace tandem::compute {

void Overhead(const Flags& f, Tandem& t);

}  // namespace tandem::compute
