// ACLs: a registry of named rule lists, each compiled into the table workers read, and
// their bindings to interfaces; and the connection tracking table their permit+reflect
// rules fill. A change builds a new table and publishes it; the old
// one is freed after the grace period.
#include "control/dataplane_impl.h"

namespace memswitch::detail {

Result<uint32_t> DataplaneImpl::add_acl(const std::string& name, std::vector<AclRule> rules, AclKind kind) {
  std::lock_guard lock(mu_);
  if (name.empty()) return make_error(Errc::kInvalidArgument, "name: an ACL needs a name");
  for (const auto& [id, a] : acls_)
    if (a.name == name) return make_error(Errc::kAlreadyExists, "an ACL named " + name + " exists");
  if (Status s = check_acl_rules(rules); !s) return s.error();
  const uint32_t id = next_acl_++;
  acls_[id] = {name, std::make_unique<AclTable>(std::move(rules), uint32_t(workers_.size()), kind)};
  return id;  // bound nowhere yet: nothing to publish
}

Status DataplaneImpl::set_acl_rules(uint32_t acl, std::vector<AclRule> rules) {
  std::vector<std::pair<uint32_t, std::vector<AclRule>>> one;
  one.emplace_back(acl, std::move(rules));
  return set_acl_rules_many(std::move(one));
}

Status DataplaneImpl::set_acl_rules_many(std::vector<std::pair<uint32_t, std::vector<AclRule>>> changes) {
  std::lock_guard lock(mu_);
  for (const auto& [acl, rules] : changes) {
    if (!acls_.count(acl)) return make_error(Errc::kNotFound, "no ACL " + std::to_string(acl));
    if (Status s = check_acl_rules(rules); !s) return changes.size() == 1 ? s : make_error(s.error().code, "ACL " + acls_.at(acl).name + ": " + s.error().message);
  }
  for (auto& [acl, rules] : changes) {
    std::unique_ptr<AclTable>& table = acls_.at(acl).table;
    retiring_.acl_tables.push_back(std::exchange(table, std::make_unique<AclTable>(std::move(rules), uint32_t(workers_.size()), table->kind())));
  }
  publish();
  return Status::ok();
}

Status DataplaneImpl::remove_acl(uint32_t acl) {
  std::lock_guard lock(mu_);
  auto it = acls_.find(acl);
  if (it == acls_.end()) return make_error(Errc::kNotFound, "no ACL " + std::to_string(acl));
  for (const auto& [idx, i] : ifaces_)
    if (i.acl_in == acl || i.acl_out == acl) return make_error(Errc::kBusy, "ACL " + it->second.name + " is bound to " + i.cfg.name);
  // A snapshot from before its last unbinding may still be in a worker's hands.
  retiring_.acl_tables.push_back(std::move(it->second.table));
  acls_.erase(it);
  publish();
  return Status::ok();
}

Status DataplaneImpl::bind_acl(uint32_t interface, AclDirection d, uint32_t acl) {
  std::lock_guard lock(mu_);
  auto it = ifaces_.find(interface);
  if (it == ifaces_.end()) return make_error(Errc::kNotFound, "no interface " + std::to_string(interface));
  if (acl != 0 && !acls_.count(acl)) return make_error(Errc::kNotFound, "no ACL " + std::to_string(acl));
  (d == AclDirection::in ? it->second.acl_in : it->second.acl_out) = acl;
  publish();
  return Status::ok();
}

Result<AclStats> DataplaneImpl::acl_stats(uint32_t acl) {
  std::lock_guard lock(mu_);
  auto it = acls_.find(acl);
  if (it == acls_.end()) return make_error(Errc::kNotFound, "no ACL " + std::to_string(acl));
  return it->second.table->stats();
}

ConntrackPage DataplaneImpl::conntrack_flows(uint64_t cursor, uint32_t limit) {
  std::lock_guard lock(mu_);
  ConntrackPage page = conntrack_->list(cursor, limit, now_s_.load(std::memory_order_relaxed));
  std::map<uint32_t, std::pair<uint32_t, uint16_t>> by_segment;  // id -> network, VLAN
  for (const auto& [key, seg] : segments_) by_segment[seg.id] = key;
  for (ConntrackFlow& f : page.flows) {  // the zone, named
    const uint32_t zone = f.router;
    f.router = zone & kZoneRouter ? zone & ~kZoneRouter : 0;
    if (auto it = by_segment.find(zone); !f.router && it != by_segment.end()) f.network = it->second.first, f.vlan = it->second.second;
  }
  return page;
}

ConntrackStats DataplaneImpl::conntrack_stats() {
  std::lock_guard lock(mu_);
  return conntrack_->stats();
}

void DataplaneImpl::clear_conntrack() {
  std::lock_guard lock(mu_);
  conntrack_->clear();
}

}  // namespace memswitch::detail
