// SPDX-License-Identifier: MIT
// The umbrella header: includes every public streamiso header and nothing else. Test support
// (streamiso/testing/) is not included: a test includes it by name.
#ifndef STREAMISO_STREAMISO_HPP
#define STREAMISO_STREAMISO_HPP

#include "streamiso/accounting.hpp"
#include "streamiso/broadcast_ring.hpp"
#include "streamiso/buffer_pool.hpp"
#include "streamiso/config.hpp"
#include "streamiso/generation.hpp"
#include "streamiso/h264_depacketizer.hpp"
#include "streamiso/h265_depacketizer.hpp"
#include "streamiso/jitter_buffer.hpp"
#include "streamiso/refusal.hpp"
#include "streamiso/result.hpp"
#include "streamiso/rtcp_feedback.hpp"
#include "streamiso/rtp_depacketizer.hpp"
#include "streamiso/rtp_jitter_feed.hpp"
#include "streamiso/rtp_packet.hpp"
#include "streamiso/rtp_stream.hpp"
#include "streamiso/rtx.hpp"
#include "streamiso/session_cache.hpp"
#include "streamiso/spsc_queue.hpp"
#include "streamiso/tag.hpp"
#include "streamiso/version.hpp"

#endif  // STREAMISO_STREAMISO_HPP
