#include "common/process/process.h"
#include "services/persistence_proxy/persistence_proxy.h"

int main(int argc, char** argv) {
  return orch::process::Run(argc, argv, orch::persistence_proxy::Definition());
}
