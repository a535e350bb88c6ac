// The smallest real use: a frame stamped by its owner is readable by that owner only.
#include <streamiso/streamiso.hpp>

#include <cstdio>

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
  std::printf("streamiso %d.%d.%d consumer: %s\n", STREAMISO_VERSION_MAJOR,
              STREAMISO_VERSION_MINOR, STREAMISO_VERSION_PATCH, failures == 0 ? "ok" : "FAILED");
  return failures == 0 ? 0 : 1;
}
