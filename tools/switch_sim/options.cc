#include "tools/switch_sim/options.h"

#include <cctype>
#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace orch::switch_sim {

const char kUsage[] =
    "usage: switch-sim --watcher HOST:PORT[,HOST:PORT...] [--routing-point DN[,DN...]]\n"
    "  [--agents N | --agent-dns DN[,DN...]] [--overflow-dn DN[,DN...]]\n"
    "  [--rate CALLS_PER_S] [--arrival fixed|poisson] [--seed N] [--calls N] [--duration-s S]\n"
    "  [--treatment-ms MS] [--digits D] [--hold-ms MS | --hold-min-ms MS --hold-max-ms MS] [--wrapup-ms MS]\n"
    "  [--patience-ms MS] [--patience fixed|exp] [--drop-link-every-events N] [--drain-s S]\n"
    "  [--adapter-id ID] [--switch-name NAME] [--tenant T] [--run-id ID] [--welcome-timeout-ms MS]\n"
    "  [--outcomes FILE] [--json] [--expect-no-double-routes[=true|false]]\n"
    "  [--tls-ca FILE [--tls-cert FILE --tls-key FILE] [--server-name NAME]]\n";

namespace {

absl::Status Bad(const std::string& option, const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat(option, ": ", what));
}

bool IdChars(const std::string& s) {
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') return false;
  }
  return true;
}

absl::Status AppendList(const std::string& option, const std::string& value, std::vector<std::string>* out) {
  for (absl::string_view part : absl::StrSplit(value, ',')) {
    if (part.empty()) return Bad(option, absl::StrCat("empty item in '", value, "'"));
    out->emplace_back(part);
  }
  return absl::OkStatus();
}

absl::Status Int(const std::string& option, const std::string& value, int64_t min, int64_t max, int64_t* out) {
  if (!absl::SimpleAtoi(value, out) || *out < min || *out > max) {
    return Bad(option, absl::StrCat("'", value, "' is not an integer in [", min, ", ", max, "]"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<CliOptions> ParseOptions(const std::vector<std::string>& args, int64_t now_ms) {
  CliOptions o;
  SwitchConfig& m = o.sim.model;
  m.routing_points.clear();
  m.run_id = absl::StrFormat("sim%x", now_ms);
  int64_t agents = -1;
  int64_t duration_s = 0;
  int64_t drain_s = 30;
  int64_t seed = 1;
  std::set<std::string> seen;

  using Setter = std::function<absl::Status(const std::string& opt, const std::string& v)>;
  auto ms = [](int64_t* out) {
    return Setter([out](const std::string& opt, const std::string& v) { return Int(opt, v, 0, 86400000, out); });
  };
  auto list = [](std::vector<std::string>* out) {
    return Setter([out](const std::string& opt, const std::string& v) { return AppendList(opt, v, out); });
  };
  auto text = [](std::string* out) {
    return Setter([out](const std::string&, const std::string& v) {
      *out = v;
      return absl::OkStatus();
    });
  };
  const std::map<std::string, Setter> with_value = {
      {"--watcher", list(&o.sim.watchers)},
      {"--routing-point", list(&m.routing_points)},
      {"--agent-dns", list(&m.agent_dns)},
      {"--overflow-dn", list(&m.overflow_dns)},
      {"--agents", [&](const std::string& opt, const std::string& v) { return Int(opt, v, 0, 100000, &agents); }},
      {"--rate",
       [&](const std::string& opt, const std::string& v) {
         if (!absl::SimpleAtod(v, &m.rate) || !std::isfinite(m.rate) || m.rate <= 0 || m.rate > 100000) {
           return Bad(opt, absl::StrCat("'", v, "' is not a rate in (0, 100000] calls/s"));
         }
         return absl::OkStatus();
       }},
      {"--arrival",
       [&](const std::string& opt, const std::string& v) {
         if (v != "fixed" && v != "poisson") return Bad(opt, absl::StrCat("'", v, "' is not fixed or poisson"));
         m.arrival = v == "fixed" ? Arrival::kFixed : Arrival::kPoisson;
         return absl::OkStatus();
       }},
      {"--patience",
       [&](const std::string& opt, const std::string& v) {
         if (v != "fixed" && v != "exp") return Bad(opt, absl::StrCat("'", v, "' is not fixed or exp"));
         m.patience = v == "fixed" ? Patience::kFixed : Patience::kExponential;
         return absl::OkStatus();
       }},
      {"--seed", [&](const std::string& opt, const std::string& v) { return Int(opt, v, 0, INT64_MAX, &seed); }},
      {"--calls", [&](const std::string& opt, const std::string& v) { return Int(opt, v, 0, 100000000, &m.calls); }},
      {"--duration-s", [&](const std::string& opt, const std::string& v) { return Int(opt, v, 0, 86400, &duration_s); }},
      {"--drain-s", [&](const std::string& opt, const std::string& v) { return Int(opt, v, 0, 3600, &drain_s); }},
      {"--treatment-ms", ms(&m.treatment_ms)},
      {"--hold-ms", ms(&m.hold_ms)},
      {"--hold-min-ms", ms(&m.hold_min_ms)},
      {"--hold-max-ms", ms(&m.hold_max_ms)},
      {"--wrapup-ms", ms(&m.wrapup_ms)},
      {"--patience-ms", ms(&m.patience_ms)},
      {"--welcome-timeout-ms", ms(&o.sim.welcome_timeout_ms)},
      {"--drop-link-every-events",
       [&](const std::string& opt, const std::string& v) {
         return Int(opt, v, 0, INT64_MAX, &o.sim.drop_link_every_events);
       }},
      {"--digits", text(&m.digits)},
      {"--adapter-id", text(&o.sim.adapter_id)},
      {"--switch-name", text(&o.sim.switch_name)},
      {"--tenant", text(&o.sim.tenant)},
      {"--run-id", text(&m.run_id)},
      {"--outcomes", text(&o.outcomes)},
      {"--tls-ca", text(&o.tls.ca)},
      {"--tls-cert", text(&o.tls.cert)},
      {"--tls-key", text(&o.tls.key)},
      {"--server-name", text(&o.server_name)},
  };

  for (size_t i = 0; i < args.size(); ++i) {
    std::string arg = args[i];
    std::string value;
    bool has_value = false;
    if (size_t eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_value = true;
    }
    if (arg == "--json" && !has_value) {
      o.json = true;
      continue;
    }
    if (arg == "--expect-no-double-routes") {
      if (has_value && value != "true" && value != "false") return Bad(arg, "expects true or false");
      o.expect_no_double_routes = !has_value || value == "true";
      continue;
    }
    auto it = with_value.find(arg);
    if (it == with_value.end()) return absl::InvalidArgumentError(absl::StrCat("unknown option '", arg, "'"));
    if (!has_value) {
      if (i + 1 >= args.size()) return Bad(arg, "needs a value");
      value = args[++i];
    }
    const bool is_list = arg == "--watcher" || arg == "--routing-point" || arg == "--agent-dns" || arg == "--overflow-dn";
    if (!is_list && !seen.insert(arg).second) return Bad(arg, "given twice");
    if (absl::Status s = it->second(arg, value); !s.ok()) return s;
  }

  if (o.sim.watchers.empty()) return Bad("--watcher", "required (HOST:PORT of a call-watcher)");
  if (m.routing_points.empty()) m.routing_points = {"5000"};
  if (agents >= 0 && !m.agent_dns.empty()) return Bad("--agents", "give --agents or --agent-dns, not both");
  if (m.agent_dns.empty()) {
    if (agents < 0) agents = 10;
    for (int64_t i = 1; i <= agents; ++i) m.agent_dns.push_back(absl::StrCat(7000 + i));
  }
  std::set<std::string> dns;
  for (const auto* group : {&m.routing_points, &m.agent_dns, &m.overflow_dns}) {
    for (const std::string& dn : *group) {
      if (!dns.insert(dn).second) return Bad("--routing-point/--agent-dns/--overflow-dn", absl::StrCat("DN ", dn, " given twice"));
    }
  }
  // A duration alone means "for that long", not "for that long or 100 calls".
  if (duration_s > 0 && !seen.contains("--calls")) m.calls = 0;
  if (m.calls == 0 && duration_s == 0) return Bad("--calls", "0 needs a --duration-s (the run must end by itself)");
  m.duration_ms = duration_s * 1000;
  if (seen.contains("--hold-min-ms") != seen.contains("--hold-max-ms")) {
    return Bad(seen.contains("--hold-min-ms") ? "--hold-max-ms" : "--hold-min-ms",
               "required with the other end of the hold range");
  }
  if (seen.contains("--hold-max-ms")) {
    if (seen.contains("--hold-ms")) return Bad("--hold-ms", "give --hold-ms or --hold-min-ms/--hold-max-ms, not both");
    if (m.hold_max_ms < 1 || m.hold_min_ms > m.hold_max_ms) {
      return Bad("--hold-max-ms", absl::StrCat(m.hold_max_ms, " must be >= 1 and >= --hold-min-ms (", m.hold_min_ms, ")"));
    }
  }
  m.seed = static_cast<uint64_t>(seed);
  o.sim.drain_ms = drain_s * 1000;
  if (m.digits.empty() || m.digits.find_first_not_of("0123456789*#") != std::string::npos) {
    return Bad("--digits", absl::StrCat("'", m.digits, "' is not a string of 0-9, * and #"));
  }
  if (m.run_id.empty() || !IdChars(m.run_id)) return Bad("--run-id", "must be [A-Za-z0-9._-], not empty");
  if (o.sim.adapter_id.empty() || !IdChars(o.sim.adapter_id) || o.sim.adapter_id.size() > 56) {
    return Bad("--adapter-id", "must be [A-Za-z0-9._-], 1 to 56 bytes (a link suffix is added)");
  }
  if (o.sim.welcome_timeout_ms == 0) return Bad("--welcome-timeout-ms", "must be > 0");
  return o;
}

}  // namespace orch::switch_sim
