#include "common/process/process.h"
#include "services/rest_gateway/rest_gateway.h"

int main(int argc, char** argv) {
  return orch::process::Run(argc, argv, orch::rest_gateway::Definition());
}
