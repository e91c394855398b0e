#include "common/process/process.h"
#include "services/call_watcher/call_watcher.h"

int main(int argc, char** argv) {
  return orch::process::Run(argc, argv, orch::call_watcher::Definition());
}
