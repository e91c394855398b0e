#pragma once

// The DN file: which application (SCXML strategy) runs for a routing point,
// the agent groups that queue:submit may name, and which media types run
// persistent sessions. TOML:
//
//   default-route = "7999"          # optional: the default route of every DN
//
//   [media.voice]                   # per media type; default persistent = false
//   persistent = false
//
//   [groups]                        # agent group -> member agent DNs
//   sales = ["7001", "7002"]
//
//   [[dn]]
//   dn = "5000"                     # required
//   switch = "sim"                  # optional: only for events of this switch
//   application = "http://h/a.scxml?ani=[ANI] file:/srv/fallback.scxml"
//   "application@east" = "..."      # used instead when [calls] cluster = "east"
//   default-route = "7001"          # where the call goes when routing fails
//   persistent = true               # optional: overrides the media type's
//   restart-session-on-switchover = true   # optional: overrides [orchestration]'s
//   [dn.parameters]                 # <data _type="parameter"> values
//   greeting = "welcome"
//
// `application` is "URL [alternate URL]": the second is tried by the engine
// when the first cannot be fetched or compiled. URLs may hold [ANI], [DNIS],
// [DN], [UDATA.<key>] (the value, URL-encoded), [UDATA] ("k=v&k2=v2",
// URL-encoded) and [UDATA.*] ("k:v,k2:v2"); other bracketed words are left
// as they are.
//
// Errors: INVALID_ARGUMENT "<file>:<line>: <key>: <message>".
// DnConfig is immutable once built; DnConfigSource is thread-safe.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "google/protobuf/struct.pb.h"

namespace orch::call_watcher {

struct DnEntry {
  std::string dn;
  std::string switch_name;     // "" = any switch
  std::string url;             // may be "" when only application@<cluster> is set
  std::string alternate_url;
  std::map<std::string, std::string> cluster_urls;   // cluster -> "URL [alternate URL]"
  std::map<std::string, google::protobuf::Value> parameters;
  std::string default_route;   // "" = the file's default-route
  int persistent = -1;         // -1: the media type's setting
  int restart_on_switchover = -1;   // -1: [orchestration] restart-session-on-switchover
};

// What a call's substitution reads.
struct CallFacts {
  std::string ani;
  std::string dnis;
  std::string dn;
  std::map<std::string, std::string> udata;
};

struct Application {
  std::string url;
  std::string alternate_url;
  std::map<std::string, google::protobuf::Value> parameters;
};

class DnConfig {
 public:
  // Parses the file's text; `source_name` starts error messages.
  static absl::StatusOr<std::shared_ptr<const DnConfig>> Parse(absl::string_view text,
                                                               const std::string& source_name);
  static absl::StatusOr<std::shared_ptr<const DnConfig>> Load(const std::string& path);

  // The entry for `dn` on `switch_name` (an entry naming the switch wins
  // over one for any switch); null when there is none.
  const DnEntry* Find(absl::string_view switch_name, absl::string_view dn) const;

  // The application for `entry` in `cluster` ("" = none), URLs substituted.
  // NOT_FOUND "DN <dn> has no application for cluster <c>" when neither
  // application@<cluster> nor application is set.
  absl::StatusOr<Application> ApplicationFor(const DnEntry& entry, absl::string_view cluster,
                                             const CallFacts& facts) const;

  // The entry's default route, else the file's; "" when neither is set.
  std::string DefaultRoute(const DnEntry* entry) const;

  // Whether sessions of `media_type` calls on `entry` (may be null) persist.
  bool Persistent(const DnEntry* entry, absl::string_view media_type) const;

  // Whether the session of a call on `entry` (may be null) is restarted
  // after a switchover: the entry's setting, else `default_value`.
  bool RestartOnSwitchover(const DnEntry* entry, bool default_value) const;

  // Member agent DNs of a group; null when the group is unknown.
  const std::vector<std::string>* Group(absl::string_view name) const;
  const std::map<std::string, std::vector<std::string>>& groups() const { return groups_; }
  size_t size() const { return entries_.size(); }

 private:
  std::vector<DnEntry> entries_;
  std::map<std::pair<std::string, std::string>, size_t> index_;   // (switch, dn) -> entry
  std::map<std::string, std::vector<std::string>> groups_;
  std::map<std::string, bool> media_persistent_;
  std::string default_route_;
};

// Replaces the substitution words of `url` (see the file comment).
std::string SubstituteUrl(absl::string_view url, const CallFacts& facts);

// The DN file, re-read when it changes. Thread-safe.
class DnConfigSource {
 public:
  // Reads `path` now: its errors fail the creation.
  static absl::StatusOr<std::unique_ptr<DnConfigSource>> Create(const std::string& path);

  std::shared_ptr<const DnConfig> Current() const ABSL_LOCKS_EXCLUDED(mu_);

  // Re-reads the file when its modification time or size changed. A file
  // that does not parse keeps the previous configuration: the error is
  // returned (the caller logs and counts it) and the same file is not
  // tried again until it changes. OK when nothing changed or it reloaded.
  absl::Status Poll() ABSL_LOCKS_EXCLUDED(mu_);
  // Counts the configurations loaded (1 after Create).
  uint64_t generation() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Stamp {
    int64_t mtime_ns = 0;
    int64_t size = -1;
    bool operator==(const Stamp&) const = default;
  };
  static absl::StatusOr<Stamp> StampOf(const std::string& path);

  explicit DnConfigSource(std::string path) : path_(std::move(path)) {}

  const std::string path_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const DnConfig> current_ ABSL_GUARDED_BY(mu_);
  Stamp stamp_ ABSL_GUARDED_BY(mu_);
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace orch::call_watcher
