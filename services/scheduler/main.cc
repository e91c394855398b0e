#include "common/process/process.h"
#include "services/scheduler/scheduler.h"

int main(int argc, char** argv) {
  return orch::process::Run(argc, argv, orch::scheduler::Definition());
}
