// PLACEHOLDER: AVX2 kernels being written.
#include "kernels/lstm_kernels.h"
namespace irnn { namespace avx2 { const LstmKernels* LstmKernelTable() { return nullptr; } } }
