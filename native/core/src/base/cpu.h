// Spin-wait hint for the few places a worker spins (a shared tx ring's lock, an idle poll).
#pragma once

namespace memswitch::detail {

inline void cpu_relax() { __builtin_ia32_pause(); }

}  // namespace memswitch::detail
