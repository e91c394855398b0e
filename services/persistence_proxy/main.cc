#include <malloc.h>

#include "common/process/process.h"
#include "services/persistence_proxy/persistence_proxy.h"

int main(int argc, char** argv) {
#ifdef __GLIBC__
  // glibc returns the free top of each thread's heap to the kernel
  // (madvise) as soon as it exceeds 128 KiB. The proxy's threads allocate
  // and free Redis calls and gRPC messages of tens of KiB all the time, so
  // its heaps kept shrinking and growing: hundreds of madvise calls a second,
  // each a TLB shootdown across the process's threads, and page faults on the
  // next growth (docs/performance.md, 2026-12-07). Free memory is kept up to
  // 64 MiB per heap instead. Setting that also fixes the size from which
  // glibc maps a block on its own (and unmaps it when freed: another
  // shootdown) at 128 KiB; 4 MiB keeps a whole Append call (at most
  // append-call-bytes, 1 MiB) on the heap.
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
  mallopt(M_MMAP_THRESHOLD, 4 << 20);
#endif
  return orch::process::Run(argc, argv, orch::persistence_proxy::Definition());
}
