// SPDX-License-Identifier: MIT
// Owner and requester tags: who wrote a frame, and who is asking for it.
#ifndef STREAMISO_TAG_HPP
#define STREAMISO_TAG_HPP

#include <cstddef>
#include <cstdint>
#include <functional>
#include <type_traits>
#include <utility>

#include "streamiso/config.hpp"

STREAMISO_BEGIN_NAMESPACE

// The default id: 128 bits, so ids minted independently across a fleet (a UUID, a hash of
// tenant + camera serial) do not collide the way 32-bit stream ids and SSRCs do.
struct id128 {
  std::uint64_t hi = 0;
  std::uint64_t lo = 0;

  constexpr id128() noexcept = default;
  // Implicit on purpose: id128 is a plain value, not a tag. Tags are where conversions stop.
  constexpr id128(std::uint64_t low) noexcept : lo(low) {}  // NOLINT(google-explicit-constructor)
  constexpr id128(std::uint64_t high, std::uint64_t low) noexcept : hi(high), lo(low) {}

  friend constexpr bool operator==(const id128& a, const id128& b) noexcept {
    return a.hi == b.hi && a.lo == b.lo;
  }
  friend constexpr bool operator!=(const id128& a, const id128& b) noexcept { return !(a == b); }
  friend constexpr bool operator<(const id128& a, const id128& b) noexcept {
    return a.hi != b.hi ? a.hi < b.hi : a.lo < b.lo;
  }
};

namespace detail {
struct owner_kind {};
struct requester_kind {};

// Shared body of the two tag types; Kind keeps them distinct so neither converts to the other.
template <class Id, class Kind>
class basic_tag {
 public:
  using id_type = Id;

  constexpr basic_tag() noexcept(std::is_nothrow_default_constructible<Id>::value) = default;

  // Explicit: a raw integer never becomes a tag by accident (`owner o = 42;` does not
  // compile); `owner{42}` states the intent.
  constexpr explicit basic_tag(const Id& id) noexcept(std::is_nothrow_copy_constructible<Id>::value)
      : id_(id) {}

  // owner{hi, lo} for the default 128-bit id.
  template <class I = Id, std::enable_if_t<std::is_same<I, id128>::value, int> = 0>
  constexpr explicit basic_tag(std::uint64_t hi, std::uint64_t lo) noexcept : id_(hi, lo) {}

  [[nodiscard]] constexpr const Id& id() const noexcept { return id_; }

  friend constexpr bool operator==(const basic_tag& a, const basic_tag& b) noexcept {
    return a.id_ == b.id_;
  }
  friend constexpr bool operator!=(const basic_tag& a, const basic_tag& b) noexcept {
    return !(a.id_ == b.id_);
  }

 private:
  Id id_{};
};
}  // namespace detail

// Who wrote a frame. Stored with every frame, packet and cache entry.
template <class Id = id128>
using basic_owner = detail::basic_tag<Id, detail::owner_kind>;

// Who is asking. Every read API takes one; there is no read without it.
template <class Id = id128>
using basic_requester = detail::basic_tag<Id, detail::requester_kind>;

using owner = basic_owner<>;
using requester = basic_requester<>;

// The requester that stands for an owner, for code that reads its own frames. Spelled out
// so that the one place where an owner acts as a requester is visible in review.
template <class Id>
[[nodiscard]] constexpr basic_requester<Id> as_requester(const basic_owner<Id>& o) noexcept(
    std::is_nothrow_copy_constructible<Id>::value) {
  return basic_requester<Id>{o.id()};
}

// True for a tag whose id was never set: owner{}, requester{}, a default-constructed id. Such
// an id names nobody, so it must never match anything (two unset ids would otherwise match
// each other: a zero-initialised record would read as everyone's). Components refuse it with
// refusal::unset_id where it arrives; exact_match never lets it through either.
template <class Id, class Kind>
[[nodiscard]] constexpr bool is_unset(const detail::basic_tag<Id, Kind>& t) noexcept(
    noexcept(t.id() == Id{})) {
  return t.id() == Id{};
}

// The default match policy: a requester may read a frame only if the ids are equal and set.
// Components take the policy as a template parameter; a custom one (say, "any device of
// the same household") must be a pure function of the two tags.
struct exact_match {
  template <class Id>
  [[nodiscard]] constexpr bool operator()(const basic_owner<Id>& o,
                                          const basic_requester<Id>& r) const noexcept {
    return o.id() == r.id() && !is_unset(r);
  }
};

// Trait behind both the C++17 static_asserts and the C++20 concept.
template <class Match, class Owner, class Requester, class = void>
struct is_match_policy : std::false_type {};
template <class Match, class Owner, class Requester>
struct is_match_policy<Match, Owner, Requester,
                       std::enable_if_t<std::is_convertible<decltype(std::declval<const Match&>()(
                                                                std::declval<const Owner&>(),
                                                                std::declval<const Requester&>())),
                                                            bool>::value>> : std::true_type {};

#if defined(__cpp_concepts) && __cpp_concepts >= 201907L
template <class Match, class Owner, class Requester>
concept match_policy = is_match_policy<Match, Owner, Requester>::value;
#endif

STREAMISO_END_NAMESPACE

namespace std {
template <>
struct hash<::streamiso::id128> {
  std::size_t operator()(const ::streamiso::id128& v) const noexcept {
    // Mix both halves so ids that differ only in `hi` do not land in one bucket.
    std::uint64_t x = v.lo ^ (v.hi * 0x9E3779B97F4A7C15ULL);
    x ^= x >> 33;
    x *= 0xFF51AFD7ED558CCDULL;
    x ^= x >> 33;
    return static_cast<std::size_t>(x);
  }
};
template <class Id, class Kind>
struct hash<::streamiso::detail::basic_tag<Id, Kind>> {
  std::size_t operator()(const ::streamiso::detail::basic_tag<Id, Kind>& t) const noexcept {
    return std::hash<Id>{}(t.id());
  }
};
}  // namespace std

#endif  // STREAMISO_TAG_HPP
