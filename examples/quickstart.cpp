// The vocabulary every streamiso component shares: owner and requester tags, a match
// policy, results that carry a refusal reason, and counters with an optional hook.
#include <streamiso/streamiso.hpp>

#include <cstdio>

namespace {
// [readme:vocabulary]
struct still {
  streamiso::owner owner;
  int frame_number;
};

// A read always names who asks; a foreign still is a counted refusal, never a best effort.
streamiso::result<still> read_still(const still& s, const streamiso::requester& who,
                                    streamiso::refusal_counters& refusals) {
  if (!streamiso::exact_match{}(s.owner, who)) {
    return refusals.record(streamiso::refusal::owner_mismatch);
  }
  return s;
}
// [readme:end]

void print_refusal(void*, const streamiso::refusal_event& e) noexcept {
  std::printf("  hook: %.*s refused: %.*s\n", static_cast<int>(e.component.size()),
              e.component.data(),
              static_cast<int>(e.reason == streamiso::refusal::owner_mismatch ? 14 : 7),
              streamiso::to_string(e.reason).data());
}
}  // namespace

int main() {
  const streamiso::owner household_a{0xA, 1};
  const streamiso::owner household_b{0xB, 1};
  streamiso::refusal_counters refusals{"quickstart"};
  const streamiso::refusal_hook hook{&print_refusal, nullptr};
  refusals.set_hook(&hook);

  const still crib_cam{household_a, 42};
  const auto mine = read_still(crib_cam, streamiso::as_requester(household_a), refusals);
  const auto theirs = read_still(crib_cam, streamiso::as_requester(household_b), refusals);

  std::printf("household A reads its own still: %s (frame %d)\n", mine ? "served" : "refused",
              mine ? mine->frame_number : -1);
  std::printf("household B asks for A's still: %s (%.*s)\n", theirs ? "SERVED" : "refused",
              static_cast<int>(theirs ? 0 : streamiso::to_string(theirs.reason()).size()),
              theirs ? "" : streamiso::to_string(theirs.reason()).data());
  std::printf("owner_mismatch refusals counted: %llu\n",
              static_cast<unsigned long long>(refusals.count(streamiso::refusal::owner_mismatch)));
  return (mine && !theirs && refusals.total() == 1) ? 0 : 1;
}
