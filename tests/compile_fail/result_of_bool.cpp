// A result<bool> would be true when not refused, whatever the answer: its `if` reads
// inverted. It does not compile; a yes/no question returns bool, a refusable one a named type.
#include "streamiso/result.hpp"

#ifdef STREAMISO_MISUSE
streamiso::result<bool> due() { return true; }
#else
struct keyframe_due {};
streamiso::result<keyframe_due> due() { return keyframe_due{}; }
#endif
