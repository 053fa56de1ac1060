#include "runtime/forest_avx512.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <utility>

// GCC 12 reports the intrinsics' deliberately undefined pass-through
// registers (_mm512_undefined_*, in gathers and set1) as maybe-uninitialized.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace tandem::runtime::forest_internal {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr size_t kLanes = 16;
constexpr size_t kTable = 64;  // entries per tree table (1-based heap, 6 levels)

#define TANDEM_AVX512 __attribute__((target("avx512f")))

// right = !(x < threshold) (x is never NaN: slots replaced it).
TANDEM_AVX512 inline __mmask16 Right(__m512 x, __m512 threshold) {
  return _mm512_cmp_ps_mask(x, threshold, _CMP_NLT_UQ);
}

// h -> 2h + right.
TANDEM_AVX512 inline __m512i Down(__m512i h, __mmask16 right) {
  const __m512i twice = _mm512_add_epi32(h, h);
  return _mm512_mask_add_epi32(twice, right, twice, _mm512_set1_epi32(1));
}

// The 64-entry table (4 registers) at index h & 63.
TANDEM_AVX512 inline __m512 Pick64(__m512i h, __m512 t0, __m512 t1, __m512 t2, __m512 t3) {
  const __mmask16 high = _mm512_test_epi32_mask(h, _mm512_set1_epi32(32));
  return _mm512_mask_blend_ps(high, _mm512_permutex2var_ps(t0, h, t1),
                              _mm512_permutex2var_ps(t2, h, t3));
}

}  // namespace

bool Avx512Layout::CpuSupported() { return __builtin_cpu_supports("avx512f"); }

bool Avx512Layout::Build(int depth, size_t num_trees, const float* thresholds,
                         const uint32_t* features, const float* leaves, uint32_t feature_mask,
                         uint32_t default_left_bit) {
  *this = Avx512Layout();
  if (depth < 1 || depth > kMaxDepth || num_trees == 0) return false;
  const size_t inner = (size_t{1} << depth) - 1;
  const size_t n_leaves = size_t{1} << depth;
  // Slots in (feature, default-left) order.
  std::map<std::pair<uint32_t, bool>, int32_t> slots;
  for (size_t i = 0; i < num_trees * inner; ++i) {
    const bool left = (features[i] & default_left_bit) != 0;
    if (left && !(thresholds[i] > -kInf)) return false;  // NaN or -inf threshold
    slots.emplace(std::make_pair(features[i] & feature_mask, left), 0);
  }
  if (slots.size() > kMaxSlots) return false;
  int32_t next = 0;
  for (auto& [key, slot] : slots) {
    slot = next++;
    slot_features_.push_back(static_cast<int32_t>(key.first));
    slot_missing_.push_back(key.second ? -kInf : kInf);
  }
  auto slot_of = [&](uint32_t f) {
    return slots.at({f & feature_mask, (f & default_left_bit) != 0});
  };
  const size_t groups = (num_trees + kLanes - 1) / kLanes;
  batch_thresholds_.assign(num_trees * kTable, 0.0f);
  batch_columns_.assign(num_trees * kTable, 0);
  batch_leaves_.assign(num_trees * kTable, 0.0f);
  row_thresholds_.assign(groups * kTable * kLanes, 0.0f);
  row_slots_.assign(groups * kTable * kLanes, 0);
  row_leaves_.assign(groups * kTable * kLanes, 0.0f);
  for (size_t t = 0; t < num_trees; ++t) {
    const size_t g = t / kLanes, lane = t % kLanes;
    for (size_t h = 0; h < inner; ++h) {  // 0-based heap index h is 1-based h + 1
      const float threshold = thresholds[t * inner + h];
      const int32_t slot = slot_of(features[t * inner + h]);
      batch_thresholds_[t * kTable + h + 1] = threshold;
      batch_columns_[t * kTable + h + 1] = slot * static_cast<int32_t>(kBlockRows);
      row_thresholds_[(g * kTable + h + 1) * kLanes + lane] = threshold;
      row_slots_[(g * kTable + h + 1) * kLanes + lane] = slot;
    }
    for (size_t i = 0; i < n_leaves; ++i) {
      const size_t at = (n_leaves + i) % kTable;
      batch_leaves_[t * kTable + at] = leaves[t * n_leaves + i];
      row_leaves_[(g * kTable + at) * kLanes + lane] = leaves[t * n_leaves + i];
    }
  }
  depth_ = depth;
  num_trees_ = num_trees;
  num_slots_ = slots.size();
  return true;
}

// NV vectors of 16 rows (rows r0 .. r0 + 16 NV of the block, transposed in
// tb: slot s of block row r at tb[s * kBlockRows + r]) walk every tree.
template <int D, int NV>
TANDEM_AVX512 void Avx512Layout::BlockVectors(const float* tb, size_t r0, size_t groups,
                                              const int32_t* tree_groups, float* acc) const {
  constexpr int kDirect = D < 3 ? D : 3;  // levels read with plain loads
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i two = _mm512_set1_epi32(2);
  __m512i row_index[NV];
  __m512 sum[NV];
  const float* col[NV];
#pragma GCC unroll 4
  for (int v = 0; v < NV; ++v) {
    row_index[v] = _mm512_add_epi32(lane, _mm512_set1_epi32(static_cast<int>(r0 + 16 * v)));
    sum[v] = groups == 1 ? _mm512_loadu_ps(acc + r0 + 16 * v) : _mm512_setzero_ps();
    col[v] = tb + r0 + 16 * v;
  }
  for (size_t t = 0; t < num_trees_; ++t) {
    const float* tt = batch_thresholds_.data() + t * kTable;
    const int32_t* tc = batch_columns_.data() + t * kTable;
    const float* tl = batch_leaves_.data() + t * kTable;
    const __m512 t0 = _mm512_load_ps(tt), t1 = _mm512_load_ps(tt + 16);
    __m512i h[NV];
    __mmask16 k0[NV], k1[NV];
    // Level 0: one column for all rows.
    {
      const __m512 threshold = _mm512_set1_ps(tt[1]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        k0[v] = Right(_mm512_load_ps(col[v] + tc[1]), threshold);
        h[v] = _mm512_mask_add_epi32(two, k0[v], two, _mm512_set1_epi32(1));
      }
    }
    if constexpr (kDirect >= 2) {  // level 1: nodes 2, 3
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        const __m512 x =
            _mm512_mask_blend_ps(k0[v], _mm512_load_ps(col[v] + tc[2]), _mm512_load_ps(col[v] + tc[3]));
        k1[v] = Right(x, _mm512_permutexvar_ps(h[v], t0));
        h[v] = Down(h[v], k1[v]);
      }
    }
    if constexpr (kDirect >= 3) {  // level 2: nodes 4..7
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        const __m512 left = _mm512_mask_blend_ps(k1[v], _mm512_load_ps(col[v] + tc[4]),
                                                 _mm512_load_ps(col[v] + tc[5]));
        const __m512 right = _mm512_mask_blend_ps(k1[v], _mm512_load_ps(col[v] + tc[6]),
                                                  _mm512_load_ps(col[v] + tc[7]));
        const __m512 x = _mm512_mask_blend_ps(k0[v], left, right);
        h[v] = Down(h[v], Right(x, _mm512_permutexvar_ps(h[v], t0)));
      }
    }
    // Levels 3..4 (heap 8..31) and 5 (32..63): slots and thresholds permuted,
    // row values gathered from the transposed block.
    if constexpr (D > 3) {
      const __m512i c0 = _mm512_load_si512(tc), c1 = _mm512_load_si512(tc + 16);
      for (int d = 3; d < std::min(D, 5); ++d) {
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) {
          const __m512i c = _mm512_add_epi32(_mm512_permutex2var_epi32(c0, h[v], c1), row_index[v]);
          const __m512 x = _mm512_i32gather_ps(c, tb, 4);
          h[v] = Down(h[v], Right(x, _mm512_permutex2var_ps(t0, h[v], t1)));
        }
      }
    }
    if constexpr (D > 5) {
      const __m512i c2 = _mm512_load_si512(tc + 32), c3 = _mm512_load_si512(tc + 48);
      const __m512 t2 = _mm512_load_ps(tt + 32), t3 = _mm512_load_ps(tt + 48);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        const __m512i c = _mm512_add_epi32(_mm512_permutex2var_epi32(c2, h[v], c3), row_index[v]);
        const __m512 x = _mm512_i32gather_ps(c, tb, 4);
        h[v] = Down(h[v], Right(x, _mm512_permutex2var_ps(t2, h[v], t3)));
      }
    }
    // Leaves: heap index 2^D .. 2^(D+1) - 1, stored at index mod 64.
    __m512 leaf[NV];
    if constexpr (D <= 4) {
      const __m512 l0 = _mm512_load_ps(tl), l1 = _mm512_load_ps(tl + 16);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) leaf[v] = _mm512_permutex2var_ps(l0, h[v], l1);
    } else if constexpr (D == 5) {
      const __m512 l2 = _mm512_load_ps(tl + 32), l3 = _mm512_load_ps(tl + 48);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) leaf[v] = _mm512_permutex2var_ps(l2, h[v], l3);
    } else {
      const __m512 l0 = _mm512_load_ps(tl), l1 = _mm512_load_ps(tl + 16);
      const __m512 l2 = _mm512_load_ps(tl + 32), l3 = _mm512_load_ps(tl + 48);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) leaf[v] = Pick64(h[v], l0, l1, l2, l3);
    }
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      if (groups == 1) {
        sum[v] = _mm512_add_ps(sum[v], leaf[v]);
      } else {
        alignas(64) float lv[16];
        _mm512_store_ps(lv, leaf[v]);
        float* a = acc + (r0 + 16 * v) * groups + static_cast<size_t>(tree_groups[t]);
        for (size_t j = 0; j < 16; ++j) a[j * groups] += lv[j];
      }
    }
  }
  if (groups == 1) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) _mm512_storeu_ps(acc + r0 + 16 * v, sum[v]);
  }
}

template <int D>
TANDEM_AVX512 void Avx512Layout::BlockKernel(const float* rows, size_t nb, size_t n_cols,
                                             size_t groups, const int32_t* tree_groups,
                                             float* acc) const {
  const size_t nv = nb / kLanes;
  if (nv > 0) {
    // Transpose the block into slot columns, NaN -> the slot's direction.
    alignas(64) float tb[kMaxSlots * kBlockRows];
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    for (size_t v = 0; v < nv; ++v) {
      const __m512i offset = _mm512_mullo_epi32(
          _mm512_add_epi32(lane, _mm512_set1_epi32(static_cast<int>(16 * v))),
          _mm512_set1_epi32(static_cast<int>(n_cols)));
      for (size_t s = 0; s < num_slots_; ++s) {
        const __m512i at = _mm512_add_epi32(offset, _mm512_set1_epi32(slot_features_[s]));
        __m512 x = _mm512_i32gather_ps(at, rows, 4);
        x = _mm512_mask_mov_ps(x, _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q),
                               _mm512_set1_ps(slot_missing_[s]));
        _mm512_store_ps(tb + s * kBlockRows + 16 * v, x);
      }
    }
    size_t v = 0;
    if (nv == 4) {
      BlockVectors<D, 4>(tb, 0, groups, tree_groups, acc);
      v = 4;
    }
    for (; v < nv; ++v) BlockVectors<D, 1>(tb, 16 * v, groups, tree_groups, acc);
  }
  for (size_t r = nv * kLanes; r < nb; ++r) {
    AccumulateRow(rows + r * n_cols, groups, tree_groups, acc + r * groups);
  }
}

void Avx512Layout::AccumulateBlock(const float* rows, size_t nb, size_t n_cols, size_t groups,
                                   const int32_t* tree_groups, float* acc) const {
  switch (depth_) {
    case 1: return BlockKernel<1>(rows, nb, n_cols, groups, tree_groups, acc);
    case 2: return BlockKernel<2>(rows, nb, n_cols, groups, tree_groups, acc);
    case 3: return BlockKernel<3>(rows, nb, n_cols, groups, tree_groups, acc);
    case 4: return BlockKernel<4>(rows, nb, n_cols, groups, tree_groups, acc);
    case 5: return BlockKernel<5>(rows, nb, n_cols, groups, tree_groups, acc);
    case 6: return BlockKernel<6>(rows, nb, n_cols, groups, tree_groups, acc);
    default: return;
  }
}

// 16 trees per vector: level-major tables per group, [heap][lane].
template <int D, bool kWideSlots>
TANDEM_AVX512 void Avx512Layout::RowKernel(const float* row, size_t num_groups,
                                           const int32_t* tree_groups, float* acc) const {
  alignas(64) float xs[kMaxSlots];
  for (size_t s = 0; s < num_slots_; ++s) {
    const float x = row[slot_features_[s]];
    xs[s] = std::isnan(x) ? slot_missing_[s] : x;
  }
  const __m512 x0 = _mm512_load_ps(xs), x1 = _mm512_load_ps(xs + 16);
  __m512 x2 = x0, x3 = x1;
  if constexpr (kWideSlots) {
    x2 = _mm512_load_ps(xs + 32);
    x3 = _mm512_load_ps(xs + 48);
  }
  auto value = [&](__m512i slot) TANDEM_AVX512 {
    if constexpr (kWideSlots) return Pick64(slot, x0, x1, x2, x3);
    return _mm512_permutex2var_ps(x0, slot, x1);
  };
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i one = _mm512_set1_epi32(1);
  const size_t groups = (num_trees_ + kLanes - 1) / kLanes;
  // One margin: summed in a register (the adds are a dependency chain in
  // tree order; through memory each would also wait for a store).
  float margin = acc[0];
  for (size_t g = 0; g < groups; ++g) {
    const float* rt = row_thresholds_.data() + g * kTable * kLanes;
    const int32_t* rs = row_slots_.data() + g * kTable * kLanes;
    const float* rl = row_leaves_.data() + g * kTable * kLanes;
    // Level 0: heap 1.
    __mmask16 k = Right(value(_mm512_load_si512(rs + 16)), _mm512_load_ps(rt + 16));
    __m512i h = _mm512_mask_add_epi32(_mm512_set1_epi32(2), k, _mm512_set1_epi32(2), one);
    if constexpr (D >= 2) {  // heap 2, 3: rows 2 and 3 of the table, picked by h & 1
      const __m512i pick = _mm512_or_si512(lane, _mm512_slli_epi32(_mm512_and_si512(h, one), 4));
      const __m512i slot = _mm512_permutex2var_epi32(_mm512_load_si512(rs + 32), pick,
                                                     _mm512_load_si512(rs + 48));
      const __m512 t = _mm512_permutex2var_ps(_mm512_load_ps(rt + 32), pick, _mm512_load_ps(rt + 48));
      h = Down(h, Right(value(slot), t));
    }
    if constexpr (D >= 3) {  // heap 4..7
      const __m512i pick = _mm512_or_si512(lane, _mm512_slli_epi32(_mm512_and_si512(h, one), 4));
      const __mmask16 high = _mm512_test_epi32_mask(h, _mm512_set1_epi32(2));
      const __m512i slot = _mm512_mask_blend_epi32(
          high,
          _mm512_permutex2var_epi32(_mm512_load_si512(rs + 64), pick, _mm512_load_si512(rs + 80)),
          _mm512_permutex2var_epi32(_mm512_load_si512(rs + 96), pick, _mm512_load_si512(rs + 112)));
      const __m512 t = _mm512_mask_blend_ps(
          high, _mm512_permutex2var_ps(_mm512_load_ps(rt + 64), pick, _mm512_load_ps(rt + 80)),
          _mm512_permutex2var_ps(_mm512_load_ps(rt + 96), pick, _mm512_load_ps(rt + 112)));
      h = Down(h, Right(value(slot), t));
    }
#pragma GCC unroll 3
    for (int d = 3; d < D; ++d) {
      const __m512i at = _mm512_add_epi32(_mm512_slli_epi32(h, 4), lane);
      const __m512i slot = _mm512_i32gather_epi32(at, rs, 4);
      const __m512 t = _mm512_i32gather_ps(at, rt, 4);
      h = Down(h, Right(value(slot), t));
    }
    const __m512i at =
        _mm512_add_epi32(_mm512_slli_epi32(_mm512_and_si512(h, _mm512_set1_epi32(63)), 4), lane);
    alignas(64) float lv[16];
    _mm512_store_ps(lv, _mm512_i32gather_ps(at, rl, 4));
    const size_t n = std::min(kLanes, num_trees_ - g * kLanes);
    if (num_groups == 1) {
      for (size_t j = 0; j < n; ++j) margin += lv[j];
    } else {
      const int32_t* tg = tree_groups + g * kLanes;
      for (size_t j = 0; j < n; ++j) acc[tg[j]] += lv[j];
    }
  }
  if (num_groups == 1) acc[0] = margin;
}

void Avx512Layout::AccumulateRow(const float* row, size_t groups, const int32_t* tree_groups,
                                 float* acc) const {
  const bool wide = num_slots_ > 32;
  switch (depth_ * 2 + (wide ? 1 : 0)) {
    case 2: return RowKernel<1, false>(row, groups, tree_groups, acc);
    case 3: return RowKernel<1, true>(row, groups, tree_groups, acc);
    case 4: return RowKernel<2, false>(row, groups, tree_groups, acc);
    case 5: return RowKernel<2, true>(row, groups, tree_groups, acc);
    case 6: return RowKernel<3, false>(row, groups, tree_groups, acc);
    case 7: return RowKernel<3, true>(row, groups, tree_groups, acc);
    case 8: return RowKernel<4, false>(row, groups, tree_groups, acc);
    case 9: return RowKernel<4, true>(row, groups, tree_groups, acc);
    case 10: return RowKernel<5, false>(row, groups, tree_groups, acc);
    case 11: return RowKernel<5, true>(row, groups, tree_groups, acc);
    case 12: return RowKernel<6, false>(row, groups, tree_groups, acc);
    case 13: return RowKernel<6, true>(row, groups, tree_groups, acc);
    default: return;
  }
}

}  // namespace tandem::runtime::forest_internal
