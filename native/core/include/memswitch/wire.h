// memif 2.0 wire format: control messages and the shared ring layout.
// Every struct here crosses a process boundary, so each size and offset is pinned
// by static_assert against ../shared/docs/memif-protocol.md (§2.4, §4.1, §4.2).
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace memswitch::memif {

constexpr uint16_t kVersion = 0x0200;
constexpr uint32_t kCookie = 0x3E31F20;
constexpr size_t kMsgSize = 128;
constexpr uint8_t kMaxLog2RingSize = 14;
constexpr uint16_t kMaxRegionIndex = 255;
constexpr uint16_t kMaxRingIndex = 255;
constexpr size_t kNameSize = 32;
constexpr size_t kSecretSize = 24;
constexpr size_t kDisconnectStringSize = 96;

enum class MsgType : uint16_t {
  kNone = 0,
  kAck = 1,
  kHello = 2,
  kInit = 3,
  kAddRegion = 4,
  kAddRing = 5,
  kConnect = 6,
  kConnected = 7,
  kDisconnect = 8,
};

constexpr uint16_t kAddRingFlagC2S = 1;
constexpr uint16_t kRingFlagMaskInt = 1;
constexpr uint16_t kDescFlagNext = 1;
constexpr uint8_t kModeEthernet = 0;
constexpr uint8_t kModeIp = 1;  // frames are IP packets, no Ethernet header (VPP, libmemif)

#pragma pack(push, 1)
struct MsgHello {
  char name[kNameSize];
  uint16_t min_version;
  uint16_t max_version;
  uint16_t max_region;
  uint16_t max_s2c_ring;
  uint16_t max_c2s_ring;
  uint8_t max_log2_ring_size;
};
struct MsgInit {
  uint16_t version;
  uint32_t id;
  uint8_t mode;
  char secret[kSecretSize];
  char name[kNameSize];
};
struct MsgAddRegion {
  uint16_t index;
  uint64_t size;
};
struct MsgAddRing {
  uint16_t flags;
  uint16_t index;
  uint16_t region;
  uint32_t offset;
  uint8_t log2_ring_size;
  uint16_t private_hdr_size;
};
struct MsgConnect {
  char if_name[kNameSize];
};
struct MsgDisconnect {
  uint32_t code;
  char string[kDisconnectStringSize];
};
struct Msg {
  uint16_t type;
  union {
    MsgHello hello;
    MsgInit init;
    MsgAddRegion add_region;
    MsgAddRing add_ring;
    MsgConnect connect;  // CONNECT and CONNECTED share the layout
    MsgDisconnect disconnect;
    uint8_t raw[kMsgSize - 2];
  };
};
#pragma pack(pop)

static_assert(sizeof(Msg) == kMsgSize);
static_assert(offsetof(Msg, hello) == 2);
static_assert(offsetof(Msg, hello.min_version) == 34 && offsetof(Msg, hello.max_log2_ring_size) == 44);
static_assert(offsetof(Msg, init.id) == 4 && offsetof(Msg, init.mode) == 8);
static_assert(offsetof(Msg, init.secret) == 9 && offsetof(Msg, init.name) == 33);
static_assert(offsetof(Msg, add_region.size) == 4);
static_assert(offsetof(Msg, add_ring.offset) == 8 && offsetof(Msg, add_ring.log2_ring_size) == 12);
static_assert(offsetof(Msg, add_ring.private_hdr_size) == 13);
static_assert(offsetof(Msg, disconnect.string) == 6 && sizeof(MsgDisconnect) + 2 == 102);

struct Desc {
  uint16_t flags;
  uint16_t region;
  uint32_t length;
  uint32_t offset;
  uint32_t metadata;
};
static_assert(sizeof(Desc) == 16);

// The client writes head and the server writes tail on both ring kinds (§4.4);
// tail lives on its own cache line so the two writers never share one.
struct RingHeader {
  uint32_t cookie;
  uint16_t flags;
  uint16_t head;
  uint8_t pad0[56];
  uint16_t tail;
  uint8_t pad1[62];
  // Desc desc[1 << log2] follows at offset 128.
};
static_assert(sizeof(RingHeader) == 128 && offsetof(RingHeader, tail) == 64);
static_assert(std::atomic_ref<uint16_t>::is_always_lock_free);

constexpr size_t ring_bytes(uint8_t log2) { return sizeof(RingHeader) + (sizeof(Desc) << log2); }

inline Desc* ring_descs(RingHeader* r) { return reinterpret_cast<Desc*>(reinterpret_cast<uint8_t*>(r) + sizeof(RingHeader)); }

// Shared indices and flags are written by an untrusted peer at any time: every
// access is an explicit atomic so the compiler never re-reads or tears them.
inline uint16_t load_acquire(uint16_t& v) { return std::atomic_ref<uint16_t>(v).load(std::memory_order_acquire); }
inline uint16_t load_relaxed(uint16_t& v) { return std::atomic_ref<uint16_t>(v).load(std::memory_order_relaxed); }
inline void store_release(uint16_t& v, uint16_t x) { std::atomic_ref<uint16_t>(v).store(x, std::memory_order_release); }
inline void store_relaxed(uint16_t& v, uint16_t x) { std::atomic_ref<uint16_t>(v).store(x, std::memory_order_relaxed); }

}  // namespace memswitch::memif
