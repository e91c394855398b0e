#include "common/process/process.h"

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/config/validators.h"
#include "common/grpc/grpc_log.h"
#include "common/grpc/server.h"
#include "common/log/log.h"
#include "common/metrics/metrics_server.h"
#include "common/process/reload.h"
#include "common/tls/tls_files.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"

namespace orch::process {
namespace {

using config::OptionType;

constexpr int kExitOk = 0;
constexpr int kExitStartFailed = 1;
constexpr int kExitBadConfig = 2;

struct Flags {
  std::string config_path;
  bool check_config = false;
  bool strict_env = false;
  bool help = false;
  bool version = false;
};

absl::StatusOr<Flags> ParseFlags(int argc, char** argv) {
  Flags flags;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--config" || arg == "-c") {
      if (i + 1 >= argc) return absl::InvalidArgumentError("--config needs a file name");
      flags.config_path = argv[++i];
    } else if (absl::StartsWith(arg, "--config=")) {
      flags.config_path = arg.substr(9);
    } else if (arg == "--check-config") {
      flags.check_config = true;
    } else if (arg == "--strict-env") {
      flags.strict_env = true;
    } else if (arg == "--help" || arg == "-h") {
      flags.help = true;
    } else if (arg == "--version") {
      flags.version = true;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown argument '", arg, "' (see --help)"));
    }
  }
  if (flags.strict_env && !flags.check_config) {
    return absl::InvalidArgumentError("--strict-env goes with --check-config");
  }
  if (flags.config_path.empty() && flags.check_config) {
    // Checking the defaults plus the environment is allowed and useful.
  }
  return flags;
}

void PrintHelp(const ProcessDefinition& def, const config::Schema& schema) {
  std::printf("%s: %s\n\n", def.name.c_str(), def.description.c_str());
  std::printf("usage: %s [--config FILE] [--check-config] [--version]\n\n", def.name.c_str());
  std::printf("  --config FILE   TOML configuration (optional: defaults and ORCH_* variables apply)\n");
  std::printf("  --check-config  validate the configuration, print the effective one, exit\n");
  std::printf("  --strict-env    with --check-config: an ORCH_* variable that names no option is an error\n"
              "                  (a manifest's typo), not a warning\n\n");
  std::printf("options (environment variable in brackets):\n");
  for (const auto& o : schema.options()) {
    std::printf("  %-36s %s%s [%s]\n", o.Key().c_str(), o.help.c_str(), o.reloadable ? " (reloads on SIGHUP)" : "",
                o.EnvName().c_str());
  }
}

std::string HostName() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

// One line on stderr, as JSON, before or after logging is configured.
int Fail(int code, const std::string& message) {
  log::Error(message, {{"exit_code", code}});
  return code;
}

}  // namespace

absl::Status Component::Reload(const config::Config& next, const std::vector<std::string>& changed) {
  return absl::UnimplementedError(
      absl::StrCat("this process cannot apply ", absl::StrJoin(changed, ", "), " without a restart"));
}

config::Schema BuildSchema(const ProcessDefinition& def) {
  config::Schema s;
  s.Add({.section = "server", .name = "grpc-listen", .type = OptionType::kString,
         .default_value = def.default_grpc_listen,
         .help = "host:port of the gRPC server (port 0: any free port)",
         .validate = config::ValidateListenAddress});
  s.Add({.section = "server", .name = "tls-cert", .type = OptionType::kString,
         .default_value = std::string(), .help = "PEM certificate chain; enables TLS on gRPC"});
  s.Add({.section = "server", .name = "tls-key", .type = OptionType::kString,
         .default_value = std::string(), .help = "PEM private key of tls-cert"});
  s.Add({.section = "server", .name = "tls-client-ca", .type = OptionType::kString,
         .default_value = std::string(),
         .help = "PEM CA bundle; when set, clients must present a certificate it signed"});
  s.Add({.section = "server", .name = "shutdown-grace-ms", .type = OptionType::kInt,
         .default_value = int64_t{10000},
         .help = "time in-flight calls get to finish on SIGTERM", .min = 0, .max = 600000});
  s.Add({.section = "metrics", .name = "listen", .type = OptionType::kString,
         .default_value = def.default_metrics_listen,
         .help = "host:port of the Prometheus /metrics endpoint",
         .validate = config::ValidateListenAddress});
  s.Add({.section = "log", .name = "level", .type = OptionType::kString,
         .default_value = std::string("info"), .help = "minimum level logged",
         .allowed = {"debug", "info", "warn", "error"}, .reloadable = true});
  s.AddCheck([](const config::Config& c) -> absl::Status {
    if (!c.GetString("server.tls-client-ca").empty() && c.GetString("server.tls-cert").empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          c.Origin("server.tls-client-ca"),
          ": server.tls-client-ca needs server.tls-cert and server.tls-key (mutual TLS is TLS)"));
    }
    return absl::OkStatus();
  });
  config::AddClusterFileOption(&s);
  if (def.add_options) def.add_options(&s);
  return s;
}

int Run(int argc, char** argv, const ProcessDefinition& def) {
  log::Configure(def.name, HostName(), log::Level::kInfo);
  // absl::Mutex's deadlock detection is on in Debian's build of absl; gRPC
  // locks absl mutexes on every call, and the cycle graph update showed in
  // every process's profile (1-2 % of CPU). Our locks are leaf locks and
  // the tests cover lock order.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  absl::StatusOr<Flags> flags = ParseFlags(argc, argv);
  if (!flags.ok()) return Fail(kExitBadConfig, std::string(flags.status().message()));
  const config::Schema schema = BuildSchema(def);
  if (flags->help) {
    PrintHelp(def, schema);
    return kExitOk;
  }
  if (flags->version) {
    std::printf("%s %s\n", def.name.c_str(), ORCH_VERSION);
    return kExitOk;
  }

  // Blocked before any thread starts, so every thread inherits the mask and
  // only the sigwaits below see these signals.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigset_t signals = stop_signals;
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  absl::StatusOr<config::Config> cfg = config::Config::Load(schema, flags->config_path, RealEnvironment());
  if (!cfg.ok()) return Fail(kExitBadConfig, std::string(cfg.status().message()));
  const config::Config& config = *cfg;
  if (config.cluster() == nullptr) {
    // The seeds require one even for a single node; so do we: without it two
    // processes of one cluster could disagree on its nodes and name unseen.
    return Fail(kExitBadConfig,
                absl::StrCat("no cluster file: set [cluster] file (or ORCH_CLUSTER_FILE) to the cluster file every "
                             "process of the cluster shares, even a single node (deploy/cluster/one-node.toml; "
                             "docs/cluster.md)",
                             flags->config_path.empty()
                                 ? ""
                                 : absl::StrCat(" (configuration: ", flags->config_path, ")")));
  }

  log::Configure(def.name, def.node_name ? def.node_name(config) : HostName(),
                 *log::ParseLevel(config.GetString("log.level")));  // validated by the schema
  grpc_util::RouteGrpcLogs();
  if (flags->check_config && flags->strict_env && !config.unknown_environment().empty()) {
    return Fail(kExitBadConfig, absl::StrCat("environment variables that name no option of ", def.name, ": ",
                                             absl::StrJoin(config.unknown_environment(), ", "),
                                             " (--strict-env; docs/configuration.md lists the options)"));
  }
  for (const auto& name : config.unknown_environment()) {
    log::Warn("environment variable matches no option of this process; ignored", {{"variable", name}});
  }

  absl::StatusOr<tls::TlsFiles> tls_files = tls::LoadTlsFiles(
      {config.GetString("server.tls-cert"), config.GetString("server.tls-key"),
       config.GetString("server.tls-client-ca"), "server.tls-cert", "server.tls-key",
       "server.tls-client-ca"});
  if (!tls_files.ok()) return Fail(kExitBadConfig, std::string(tls_files.status().message()));

  if (flags->check_config) {
    std::fputs(config.Dump().c_str(), stdout);
    return kExitOk;
  }

  auto metrics = metrics::MetricsServer::Start(config.GetString("metrics.listen"), def.metrics_prefix,
                                               ORCH_VERSION);
  if (!metrics.ok()) {
    return Fail(kExitStartFailed, absl::StrCat("metrics.listen: ", metrics.status().message()));
  }

  (*metrics)->SetClusterInfo(config.cluster()->name(), config.cluster()->Digest());

  absl::StatusOr<std::unique_ptr<Component>> component =
      def.create ? def.create(RunContext{config, **metrics})
                 : absl::StatusOr<std::unique_ptr<Component>>(std::make_unique<NoServices>());
  if (!component.ok()) {
    // INVALID_ARGUMENT / FAILED_PRECONDITION: a setting the component (or the
    // server it talks to) refuses, e.g. a wrong password: a configuration error.
    const absl::StatusCode code = component.status().code();
    const bool bad_config =
        code == absl::StatusCode::kInvalidArgument || code == absl::StatusCode::kFailedPrecondition;
    return Fail(bad_config ? kExitBadConfig : kExitStartFailed,
                absl::StrCat("cannot start: ", component.status().message()));
  }

  auto server = grpc_util::GrpcServer::Start(
      {.listen = config.GetString("server.grpc-listen"), .tls = *tls_files}, (*component)->Services(),
      metrics->get());
  if (!server.ok()) {
    return Fail(kExitStartFailed, absl::StrCat("server.grpc-listen: ", server.status().message()));
  }

  (*component)->OnServing(**server);
  // Said once the process runs, so a failed start stays one line.
  const cluster::ClusterFile* cl = config.cluster();
  log::Info("cluster file loaded", {{"cluster", cl->name()}, {"file", cl->source_name()}, {"digest", cl->Digest()}});
  log::Info("serving", {{"grpc", (*server)->address()},
                        {"metrics", (*metrics)->address()},
                        {"tls", tls_files->enabled()},
                        {"mtls", !tls_files->ca_pem.empty()},
                        {"version", ORCH_VERSION}});

  // What is in effect, for SIGHUP to compare with (the component keeps the
  // Config it was created with, unchanged).
  config::Config running = config;
  auto& reloads = prometheus::BuildCounter()
                      .Name((*metrics)->Name("config_reloads_total"))
                      .Help("Configuration reloads on SIGHUP, by result (applied, unchanged, refused, failed).")
                      .Register((*metrics)->registry());
  // Every result at 0 from the start, so that increase() sees the first one.
  for (auto outcome : {ReloadResult::Outcome::kApplied, ReloadResult::Outcome::kUnchanged,
                       ReloadResult::Outcome::kRefused, ReloadResult::Outcome::kFailed}) {
    reloads.Add({{"result", OutcomeName(outcome)}});
  }
  int sig = 0;
  for (;;) {
    if (sigwait(&signals, &sig) != 0) continue;
    if (sig != SIGHUP) break;
    log::Info("SIGHUP: reading the configuration again", {{"file", flags->config_path}});
    const ReloadResult r =
        ReloadConfiguration(schema, flags->config_path, RealEnvironment(), &running, component->get());
    reloads.Add({{"result", OutcomeName(r.outcome)}}).Increment();
  }
  const absl::Duration grace = absl::Milliseconds(config.GetInt("server.shutdown-grace-ms"));
  log::Info("shutting down", {{"signal", sig == SIGINT ? "SIGINT" : "SIGTERM"},
                              {"grace_ms", absl::ToInt64Milliseconds(grace)}});

  // A second signal while draining means "now": the operator has waited enough.
  std::thread([stop_signals]() mutable {
    int again = 0;
    if (sigwait(&stop_signals, &again) == 0) {
      log::Warn("second signal during shutdown; exiting at once");
      std::_Exit(kExitStartFailed);
    }
  }).detach();

  (*server)->Shutdown(grace);
  (*component)->Stop();
  log::Info("stopped");
  return kExitOk;
}

}  // namespace orch::process
