// The user code of the cold-start benchmark: prints the wall clock
// (CLOCK_REALTIME, ns) as "FIRST_LINE <ns>" and exits. It is the first thing
// the job does (its script's only line is `exec first_line`), so the
// difference with the submitter's clock is submit -> first line of user code.
#include <stdio.h>
#include <time.h>

int main() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  printf("FIRST_LINE %lld\n", static_cast<long long>(ts.tv_sec) * 1000000000LL + ts.tv_nsec);
  return 0;
}
