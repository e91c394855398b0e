#include "services/call_watcher/dn_config.h"

#define TOML_HEADER_ONLY 1
#define TOML_EXCEPTIONS 0
#define TOML_ENABLE_FORMATTERS 0
#include <toml++/toml.h>

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/base/file.h"

namespace orch::call_watcher {
namespace {

absl::Status ErrorAt(const std::string& source, const toml::source_region& where, absl::string_view key,
                     absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat(source, ":", where.begin.line, ": ", key, ": ", message));
}

// "URL [alternate URL]".
absl::Status SplitApplication(absl::string_view text, std::string* url, std::string* alternate) {
  std::vector<std::string> parts = absl::StrSplit(text, ' ', absl::SkipWhitespace());
  if (parts.empty() || parts.size() > 2) return absl::InvalidArgumentError("must be \"URL [alternate URL]\"");
  *url = parts[0];
  *alternate = parts.size() == 2 ? parts[1] : "";
  return absl::OkStatus();
}

absl::StatusOr<google::protobuf::Value> ToValue(const toml::node& n) {
  google::protobuf::Value v;
  if (auto s = n.as_string()) {
    v.set_string_value(s->get());
  } else if (auto i = n.as_integer()) {
    v.set_number_value(static_cast<double>(i->get()));
  } else if (auto f = n.as_floating_point()) {
    v.set_number_value(f->get());
  } else if (auto b = n.as_boolean()) {
    v.set_bool_value(b->get());
  } else {
    return absl::InvalidArgumentError("must be a string, a number or a boolean");
  }
  return v;
}

std::string UrlEncode(absl::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

}  // namespace

std::string SubstituteUrl(absl::string_view url, const CallFacts& facts) {
  std::string out;
  size_t i = 0;
  while (i < url.size()) {
    size_t open = url.find('[', i);
    if (open == absl::string_view::npos) break;
    size_t close = url.find(']', open);
    if (close == absl::string_view::npos) break;
    absl::StrAppend(&out, url.substr(i, open - i));
    absl::string_view word = url.substr(open + 1, close - open - 1);
    if (word == "ANI") {
      absl::StrAppend(&out, UrlEncode(facts.ani));
    } else if (word == "DNIS") {
      absl::StrAppend(&out, UrlEncode(facts.dnis));
    } else if (word == "DN") {
      absl::StrAppend(&out, UrlEncode(facts.dn));
    } else if (word == "UDATA") {
      out += absl::StrJoin(facts.udata, "&", [](std::string* o, const auto& kv) {
        absl::StrAppend(o, UrlEncode(kv.first), "=", UrlEncode(kv.second));
      });
    } else if (word == "UDATA.*") {
      out += absl::StrJoin(facts.udata, ",", [](std::string* o, const auto& kv) {
        absl::StrAppend(o, UrlEncode(kv.first), ":", UrlEncode(kv.second));
      });
    } else if (absl::ConsumePrefix(&word, "UDATA.")) {
      auto it = facts.udata.find(std::string(word));
      if (it != facts.udata.end()) absl::StrAppend(&out, UrlEncode(it->second));
    } else {
      absl::StrAppend(&out, url.substr(open, close - open + 1));
    }
    i = close + 1;
  }
  absl::StrAppend(&out, url.substr(std::min(i, url.size())));
  return out;
}

absl::StatusOr<std::shared_ptr<const DnConfig>> DnConfig::Parse(absl::string_view text,
                                                                const std::string& source_name) {
  toml::parse_result parsed = toml::parse(std::string_view(text.data(), text.size()), std::string_view(source_name));
  if (!parsed) {
    const auto& err = parsed.error();
    return absl::InvalidArgumentError(absl::StrCat(source_name, ":", err.source().begin.line, ": malformed TOML: ",
                                                   std::string(err.description())));
  }
  auto cfg = std::make_shared<DnConfig>();
  for (auto&& [key, node] : parsed.table()) {
    const std::string name(std::string(key.str()));
    if (name == "default-route") {
      auto s = node.as_string();
      if (!s) return ErrorAt(source_name, key.source(), name, "must be a string (a DN)");
      cfg->default_route_ = s->get();
    } else if (name == "media") {
      auto t = node.as_table();
      if (!t) return ErrorAt(source_name, key.source(), name, "must be a table of [media.<type>] sections");
      for (auto&& [mkey, mnode] : *t) {
        const std::string media(std::string(mkey.str()));
        auto mt = mnode.as_table();
        if (!mt) return ErrorAt(source_name, mkey.source(), "media." + media, "must be a table");
        for (auto&& [okey, onode] : *mt) {
          const std::string oname = absl::StrCat("media.", media, ".", std::string(okey.str()));
          if (okey.str() != "persistent") return ErrorAt(source_name, okey.source(), oname, "unknown option (known: persistent)");
          auto b = onode.as_boolean();
          if (!b) return ErrorAt(source_name, okey.source(), oname, "must be true or false");
          cfg->media_persistent_[media] = b->get();
        }
      }
    } else if (name == "groups") {
      auto t = node.as_table();
      if (!t) return ErrorAt(source_name, key.source(), name, "must be a table: group = [\"dn\", ...]");
      for (auto&& [gkey, gnode] : *t) {
        const std::string gname = absl::StrCat("groups.", std::string(gkey.str()));
        auto arr = gnode.as_array();
        if (!arr) return ErrorAt(source_name, gkey.source(), gname, "must be an array of agent DNs");
        std::vector<std::string> members;
        for (auto&& m : *arr) {
          auto s = m.as_string();
          if (!s || s->get().empty()) return ErrorAt(source_name, gkey.source(), gname, "members must be non-empty strings");
          members.push_back(s->get());
        }
        cfg->groups_[std::string(gkey.str())] = std::move(members);
      }
    } else if (name == "dn") {
      auto arr = node.as_array();
      if (!arr) return ErrorAt(source_name, key.source(), name, "must be an array of [[dn]] tables");
      for (auto&& item : *arr) {
        auto t = item.as_table();
        if (!t) return ErrorAt(source_name, item.source(), name, "each [[dn]] must be a table");
        DnEntry e;
        bool has_app = false;
        for (auto&& [fkey, fnode] : *t) {
          const std::string f(std::string(fkey.str()));
          const std::string fname = "dn." + f;
          auto str = fnode.as_string();
          if (f == "dn" || f == "switch" || f == "default-route" || f == "application" ||
              absl::StartsWith(f, "application@")) {
            if (!str) return ErrorAt(source_name, fkey.source(), fname, "must be a string");
          }
          if (f == "dn") {
            e.dn = str->get();
          } else if (f == "switch") {
            e.switch_name = str->get();
          } else if (f == "default-route") {
            e.default_route = str->get();
          } else if (f == "application") {
            if (auto st = SplitApplication(str->get(), &e.url, &e.alternate_url); !st.ok()) {
              return ErrorAt(source_name, fkey.source(), fname, st.message());
            }
            has_app = true;
          } else if (absl::StartsWith(f, "application@")) {
            std::string u, a;
            if (auto st = SplitApplication(str->get(), &u, &a); !st.ok()) {
              return ErrorAt(source_name, fkey.source(), fname, st.message());
            }
            if (f.size() == strlen("application@")) return ErrorAt(source_name, fkey.source(), fname, "names no cluster");
            e.cluster_urls[f.substr(strlen("application@"))] = str->get();
            has_app = true;
          } else if (f == "persistent") {
            auto b = fnode.as_boolean();
            if (!b) return ErrorAt(source_name, fkey.source(), fname, "must be true or false");
            e.persistent = b->get() ? 1 : 0;
          } else if (f == "restart-session-on-switchover") {
            auto b = fnode.as_boolean();
            if (!b) return ErrorAt(source_name, fkey.source(), fname, "must be true or false");
            e.restart_on_switchover = b->get() ? 1 : 0;
          } else if (f == "parameters") {
            auto pt = fnode.as_table();
            if (!pt) return ErrorAt(source_name, fkey.source(), fname, "must be a table of name = value");
            for (auto&& [pkey, pnode] : *pt) {
              auto v = ToValue(pnode);
              if (!v.ok()) return ErrorAt(source_name, pkey.source(), absl::StrCat(fname, ".", std::string(pkey.str())), v.status().message());
              e.parameters[std::string(pkey.str())] = *std::move(v);
            }
          } else {
            return ErrorAt(source_name, fkey.source(), fname,
                           "unknown option (known: dn, switch, application, application@<cluster>, default-route, "
                           "persistent, restart-session-on-switchover, parameters)");
          }
        }
        if (e.dn.empty()) return ErrorAt(source_name, item.source(), "dn.dn", "every [[dn]] needs a non-empty dn");
        if (!has_app) return ErrorAt(source_name, item.source(), "dn.application", absl::StrCat("DN ", e.dn, " has no application"));
        auto k = std::make_pair(e.switch_name, e.dn);
        if (cfg->index_.count(k)) {
          return ErrorAt(source_name, item.source(), "dn.dn",
                         absl::StrCat("DN ", e.dn, e.switch_name.empty() ? "" : " on switch " + e.switch_name,
                                      " is defined twice"));
        }
        cfg->index_[k] = cfg->entries_.size();
        cfg->entries_.push_back(std::move(e));
      }
    } else {
      return ErrorAt(source_name, key.source(), name, "unknown key (known: default-route, media, groups, dn)");
    }
  }
  return std::shared_ptr<const DnConfig>(std::move(cfg));
}

absl::StatusOr<std::shared_ptr<const DnConfig>> DnConfig::Load(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": ", text.status().message()));
  return Parse(*text, path);
}

const DnEntry* DnConfig::Find(absl::string_view switch_name, absl::string_view dn) const {
  auto it = index_.find(std::make_pair(std::string(switch_name), std::string(dn)));
  if (it == index_.end()) it = index_.find(std::make_pair(std::string(), std::string(dn)));
  return it == index_.end() ? nullptr : &entries_[it->second];
}

absl::StatusOr<Application> DnConfig::ApplicationFor(const DnEntry& entry, absl::string_view cluster,
                                                     const CallFacts& facts) const {
  Application app;
  std::string url = entry.url, alternate = entry.alternate_url;
  if (auto it = entry.cluster_urls.find(std::string(cluster)); !cluster.empty() && it != entry.cluster_urls.end()) {
    (void)SplitApplication(it->second, &url, &alternate);   // checked by Parse
  }
  if (url.empty()) {
    return absl::NotFoundError(absl::StrCat("DN ", entry.dn, " has no application for cluster '", cluster, "'"));
  }
  app.url = SubstituteUrl(url, facts);
  if (!alternate.empty()) app.alternate_url = SubstituteUrl(alternate, facts);
  app.parameters = entry.parameters;
  return app;
}

std::string DnConfig::DefaultRoute(const DnEntry* entry) const {
  if (entry != nullptr && !entry->default_route.empty()) return entry->default_route;
  return default_route_;
}

bool DnConfig::Persistent(const DnEntry* entry, absl::string_view media_type) const {
  if (entry != nullptr && entry->persistent >= 0) return entry->persistent == 1;
  auto it = media_persistent_.find(std::string(media_type));
  return it != media_persistent_.end() && it->second;
}

bool DnConfig::RestartOnSwitchover(const DnEntry* entry, bool default_value) const {
  if (entry != nullptr && entry->restart_on_switchover >= 0) return entry->restart_on_switchover == 1;
  return default_value;
}

const std::vector<std::string>* DnConfig::Group(absl::string_view name) const {
  auto it = groups_.find(std::string(name));
  return it == groups_.end() ? nullptr : &it->second;
}

absl::StatusOr<DnConfigSource::Stamp> DnConfigSource::StampOf(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", std::strerror(errno)));
  }
  return Stamp{static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec,
               static_cast<int64_t>(st.st_size)};
}

absl::StatusOr<std::unique_ptr<DnConfigSource>> DnConfigSource::Create(const std::string& path) {
  auto stamp = StampOf(path);
  if (!stamp.ok()) return stamp.status();
  auto cfg = DnConfig::Load(path);
  if (!cfg.ok()) return cfg.status();
  auto self = std::unique_ptr<DnConfigSource>(new DnConfigSource(path));
  absl::MutexLock l(&self->mu_);
  self->current_ = *std::move(cfg);
  self->stamp_ = *stamp;
  self->generation_ = 1;
  return self;
}

std::shared_ptr<const DnConfig> DnConfigSource::Current() const {
  absl::MutexLock l(&mu_);
  return current_;
}

uint64_t DnConfigSource::generation() const {
  absl::MutexLock l(&mu_);
  return generation_;
}

absl::Status DnConfigSource::Poll() {
  auto stamp = StampOf(path_);
  {
    absl::MutexLock l(&mu_);
    if (stamp.ok() && *stamp == stamp_) return absl::OkStatus();
    if (!stamp.ok()) {
      if (stamp_.size == -2) return absl::OkStatus();   // already reported
      stamp_ = Stamp{0, -2};
      return stamp.status();
    }
    stamp_ = *stamp;   // a bad file is reported once, not at every poll
  }
  auto cfg = DnConfig::Load(path_);
  if (!cfg.ok()) return cfg.status();
  absl::MutexLock l(&mu_);
  current_ = *std::move(cfg);
  ++generation_;
  return absl::OkStatus();
}

}  // namespace orch::call_watcher
