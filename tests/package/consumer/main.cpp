// The smallest real use: a frame stamped by its owner is readable by that owner only.
#include <streamiso/streamiso.hpp>

#include <cstdio>

// The pkg-config test builds this with -std=c++20 and 202002L here: a package that appended
// its own -std flag would silently downgrade the consumer.
#ifdef STREAMISO_CONSUMER_CPLUSPLUS
static_assert(__cplusplus >= STREAMISO_CONSUMER_CPLUSPLUS,
              "the package changed the consumer's C++ standard");
#endif

int main() {
  const streamiso::owner camera{0x1234, 1};
  const streamiso::requester same = streamiso::as_requester(camera);
  const streamiso::requester other{0x1234, 2};
  const streamiso::exact_match match;
  streamiso::refusal_counters refusals{"consumer"};

  int failures = 0;
  if (!match(camera, same)) ++failures;
  if (match(camera, other)) {
    ++failures;
  } else {
    (void)refusals.record(streamiso::refusal::owner_mismatch);
  }
  if (refusals.count(streamiso::refusal::owner_mismatch) != 1) ++failures;
  std::printf("streamiso %d.%d.%d consumer: %s\n", STREAMISO_VERSION_MAJOR, STREAMISO_VERSION_MINOR,
              STREAMISO_VERSION_PATCH, failures == 0 ? "ok" : "FAILED");
  return failures == 0 ? 0 : 1;
}
