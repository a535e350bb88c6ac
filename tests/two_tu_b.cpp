#include "streamiso/streamiso.hpp"

int streamiso_two_tu_b() {
  return static_cast<int>(streamiso::to_string(streamiso::refusal::gap).size());
}
