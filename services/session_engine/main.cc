#include "common/process/process.h"
#include "services/session_engine/session_engine.h"

int main(int argc, char** argv) {
  return orch::process::Run(argc, argv, orch::session_engine::Definition());
}
