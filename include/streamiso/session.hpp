// SPDX-License-Identifier: MIT
// The session: the session cache's bound handle, issued by open_session(owner).
#ifndef STREAMISO_SESSION_HPP
#define STREAMISO_SESSION_HPP

#include <cstdint>

#include "streamiso/config.hpp"
#include "streamiso/tag.hpp"

STREAMISO_BEGIN_NAMESPACE

namespace detail {
template <class Id, class Lock>
class session_registry;
}  // namespace detail

// A session issued by a cache. Only the cache can make one (there is no constructor from
// numbers and no default constructor), so a caller cannot forge another session's identity
// or revive a closed one: the handle names its cache, its slot, a generation that is never
// reused, and the generation of its owner's record at the time it was opened. Copies denote
// the same session and may be used from several threads at once.
template <class Id>
class basic_session {
 public:
  using id_type = Id;
  using owner_type = basic_owner<Id>;
  using requester_type = basic_requester<Id>;

  // The household this session belongs to, and writes as.
  [[nodiscard]] const owner_type& owner() const noexcept { return owner_; }
  // The requester this session reads as: the same household.
  [[nodiscard]] requester_type requester() const noexcept { return requester_type{owner_.id()}; }
  // Unique per cache and never reused, even after close: a reopened session gets a new id.
  [[nodiscard]] std::uint64_t id() const noexcept { return id_; }

  friend bool operator==(const basic_session& a, const basic_session& b) noexcept {
    return a.cache_ == b.cache_ && a.id_ == b.id_;
  }
  friend bool operator!=(const basic_session& a, const basic_session& b) noexcept {
    return !(a == b);
  }

 private:
  template <class, class>
  friend class detail::session_registry;

  basic_session(const owner_type& o, std::uint64_t cache, std::uint64_t id, std::uint32_t slot,
                std::uint32_t owner_slot, std::uint64_t owner_gen) noexcept
      : owner_(o),
        cache_(cache),
        id_(id),
        owner_gen_(owner_gen),
        slot_(slot),
        owner_slot_(owner_slot) {}

  owner_type owner_;
  std::uint64_t cache_;
  std::uint64_t id_;
  std::uint64_t owner_gen_;
  std::uint32_t slot_;
  std::uint32_t owner_slot_;
};

STREAMISO_END_NAMESPACE

#endif  // STREAMISO_SESSION_HPP
