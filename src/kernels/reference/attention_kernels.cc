// Scalar reference kernels of integer attention (kernels/attention_kernels.h): the specification of
// docs/numerics.md §9 written literally, one element at a time. The AVX2 table must match these bit for
// bit. Integer only (part of the no-float check).

#include <cstdint>

#include "core/fixed_point.h"
#include "kernels/attention_kernels.h"

namespace irnn {

// round(2^29 · 2^(j/256)), j = 0..256 (numerics.md §9.2).
const int32_t kSoftmaxExp2Table[257] = {
    536870912, 538326517, 539786068, 541249576, 542717053, 544188508, 545663953, 547143398,
    548626854, 550114332, 551605844, 553101399, 554601009, 556104685, 557612438, 559124278,
    560640218, 562160268, 563684439, 565212742, 566745190, 568281792, 569822560, 571367506,
    572916640, 574469975, 576027521, 577589290, 579155293, 580725543, 582300049, 583878825,
    585461881, 587049229, 588640881, 590236848, 591837143, 593441776, 595050760, 596664106,
    598281827, 599903933, 601530438, 603161352, 604796689, 606436459, 608080675, 609729349,
    611382493, 613040119, 614702239, 616368866, 618040012, 619715688, 621395908, 623080683,
    624770026, 626463950, 628162466, 629865587, 631573326, 633285695, 635002706, 636724373,
    638450708, 640181724, 641917433, 643657847, 645402981, 647152846, 648907455, 650666822,
    652430958, 654199878, 655973594, 657752119, 659535466, 661323648, 663116678, 664914570,
    666717336, 668524990, 670337545, 672155015, 673977412, 675804750, 677637043, 679474303,
    681316545, 683163781, 685016026, 686873293, 688735596, 690602947, 692475362, 694352853,
    696235434, 698123120, 700015924, 701913860, 703816941, 705725183, 707638598, 709557200,
    711481005, 713410026, 715344277, 717283772, 719228525, 721178552, 723133865, 725094480,
    727060411, 729031671, 731008277, 732990241, 734977579, 736970306, 738968435, 740971982,
    742980960, 744995386, 747015274, 749040637, 751071493, 753107854, 755149737, 757197155,
    759250125, 761308661, 763372778, 765442492, 767517817, 769598769, 771685363, 773777614,
    775875538, 777979150, 780088465, 782203500, 784324269, 786450787, 788583072, 790721137,
    792865000, 795014675, 797170178, 799331526, 801498734, 803671817, 805850792, 808035676,
    810226483, 812423229, 814625932, 816834607, 819049271, 821269938, 823496627, 825729353,
    827968132, 830212982, 832463917, 834720956, 836984114, 839253408, 841528855, 843810471,
    846098274, 848392279, 850692504, 852998965, 855311680, 857630665, 859955938, 862287515,
    864625413, 866969651, 869320244, 871677210, 874040567, 876410331, 878786521, 881169153,
    883558244, 885953814, 888355878, 890764456, 893179563, 895601218, 898029440, 900464244,
    902905651, 905353676, 907808339, 910269657, 912737649, 915212331, 917693724, 920181844,
    922676710, 925178340, 927686753, 930201967, 932724001, 935252872, 937788600, 940331203,
    942880699, 945437108, 948000448, 950570738, 953147997, 955732243, 958323496, 960921775,
    963527098, 966139485, 968758955, 971385527, 974019220, 976660054, 979308048, 981963222,
    984625594, 987295185, 989972014, 992656100, 995347464, 998046124, 1000752102, 1003465416,
    1006186087, 1008914134, 1011649578, 1014392438, 1017142735, 1019900489, 1022665720, 1025438448,
    1028218693, 1031006477, 1033801819, 1036604740, 1039415261, 1042233401, 1045059183, 1047892626,
    1050733751, 1053582579, 1056439131, 1059303428, 1062175491, 1065055341, 1067942999, 1070838486,
    1073741824,
};

namespace reference {
namespace {

uint32_t Wrap32Add(uint32_t a, int64_t b) { return a + static_cast<uint32_t>(b); }

// numerics.md §9.2, steps 1-9.
void SoftmaxS32ToQ15(const int32_t* scores, int n, QuantizedMultiplier exp_scale, Rounding rounding,
                     int32_t* scratch, int16_t* probs) {
  int32_t max = scores[0];
  for (int t = 1; t < n; ++t) max = scores[t] > max ? scores[t] : max;
  int64_t sum = 0;
  for (int t = 0; t < n; ++t) {
    const int64_t diff = static_cast<int64_t>(scores[t]) - max;                 // <= 0
    const int32_t d = diff < kInt32Min ? kInt32Min : static_cast<int32_t>(diff);  // sat32
    int32_t x = MultiplyByQuantizedMultiplier(d, exp_scale, rounding);
    x = x > 0 ? 0 : x;
    const int32_t ip = x >> 16;        // floor(x / 2^16), in [-32768, 0]
    const int32_t f = x & 0xFFFF;      // x - ip·2^16, in [0, 2^16)
    const int32_t j = f >> 8, r = f & 255;
    const int32_t lo = kSoftmaxExp2Table[j], hi = kSoftmaxExp2Table[j + 1];
    const int32_t p = lo + (((hi - lo) * r + 128) >> 8);  // Q29, in [2^29, 2^30)
    const int32_t e = RoundingDivideByPOT(p, -ip > 31 ? 31 : -ip);
    scratch[t] = e;
    sum += e;
  }
  const int64_t recip = (int64_t{1} << 60) / sum;  // sum >= 2^29: recip in [2^19, 2^31]
  for (int t = 0; t < n; ++t) {
    const int64_t a = (static_cast<int64_t>(scratch[t]) * recip + (int64_t{1} << 44)) >> 45;
    probs[t] = static_cast<int16_t>(a > 32767 ? 32767 : a);
  }
}

void AddRowSatS32ToS16(const int32_t* q, const int32_t* k, int rows, int n, int16_t* out) {
  for (int t = 0; t < rows; ++t) {
    for (int j = 0; j < n; ++j) {
      out[t * n + j] = SaturateToInt16(static_cast<int64_t>(q[j]) + k[t * n + j]);
    }
  }
}

void DotRowsS16S8(const int16_t* h, const int8_t* v, int rows, int n, int32_t* out) {
  for (int t = 0; t < rows; ++t) {
    uint32_t acc = 0;
    for (int j = 0; j < n; ++j) acc = Wrap32Add(acc, int64_t{v[j]} * h[t * n + j]);
    out[t] = static_cast<int32_t>(acc);
  }
}

void DotRowsS8S8(const int8_t* k, const int8_t* u, int rows, int n, int32_t zero_point, int32_t* out) {
  for (int t = 0; t < rows; ++t) {
    uint32_t acc = 0;
    for (int j = 0; j < n; ++j) acc = Wrap32Add(acc, int64_t{u[j]} * (int64_t{k[t * n + j]} - zero_point));
    out[t] = static_cast<int32_t>(acc);
  }
}

void WeightedSumS8(const int16_t* a, const int8_t* k, int rows, int n, int32_t zero_point, int8_t* out) {
  for (int j = 0; j < n; ++j) {
    uint32_t acc = 0;
    for (int t = 0; t < rows; ++t) acc = Wrap32Add(acc, int64_t{a[t]} * (int64_t{k[t * n + j]} - zero_point));
    out[j] = SaturateToInt8(int64_t{RoundingDivideByPOT(static_cast<int32_t>(acc), 15)} + zero_point);
  }
}

}  // namespace

const AttentionKernels& AttentionKernelTable() {
  static const AttentionKernels table = {SoftmaxS32ToQ15, AddRowSatS32ToS16, DotRowsS16S8, DotRowsS8S8,
                                         WeightedSumS8};
  return table;
}

}  // namespace reference
}  // namespace irnn
