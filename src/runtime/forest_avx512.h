// The AVX-512 forest kernels (internal to Forest): 16 lanes per vector, the
// forest laid out for permutes instead of gathers wherever a tree level fits
// in registers.
//
// Missing values: each split reads a *slot*, a (feature, default-left) pair;
// a row is remapped to slot values once, a NaN becoming -inf in a
// default-left slot and +inf in a default-right one. Then every split is the
// one comparison `right = !(x < threshold)`, exactly what XGBoost decides,
// provided every default-left split's threshold is > -inf (checked by Build;
// otherwise the layout is not built and the AVX2 kernel is used).
//
// Batch kernel (blocks of up to 64 rows, 16 rows per vector, 4 vectors
// walking one tree together): the block is transposed into slot columns, so
// levels 0-2 read their row values with plain loads (one column per node,
// blended by the previous levels' outcomes) and only levels 3-5 gather; node
// thresholds/slots (1-based heap index, 64 per tree) and the 64 leaves are
// picked from registers with vpermt2ps. Leaves are added in tree order, so
// every row's float sum is the scalar kernel's.
//
// Single-row kernel: 16 trees per vector, nodes stored level-major per group
// of 16 trees (levels 0-2 by loads and permutes, deeper ones gathered), the
// row's slot values held in registers (permutes, no row gathers).
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <vector>

namespace tandem::runtime::forest_internal {

template <typename T>
struct Aligned64Allocator {
  using value_type = T;
  Aligned64Allocator() = default;
  template <typename U>
  Aligned64Allocator(const Aligned64Allocator<U>&) {}  // NOLINT: allocator rebind
  T* allocate(size_t n) {
    return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t{64}));
  }
  void deallocate(T* p, size_t) { ::operator delete(p, std::align_val_t{64}); }
  bool operator==(const Aligned64Allocator&) const { return true; }
  bool operator!=(const Aligned64Allocator&) const { return false; }
};
template <typename T>
using AlignedVector = std::vector<T, Aligned64Allocator<T>>;

class Avx512Layout {
 public:
  // Rows per batch block (the transposed block is kBlockRows * slots floats).
  static constexpr size_t kBlockRows = 64;
  // At most this many (feature, default-left) slots.
  static constexpr size_t kMaxSlots = 64;
  // Deepest complete tree laid out (64 nodes/leaves per table).
  static constexpr int kMaxDepth = 6;

  // True if the CPU runs the kernels (AVX-512F).
  static bool CpuSupported();

  // From the complete-tree (0-based heap) arrays: per tree 2^depth - 1
  // thresholds and features (feature | default_left_bit), 2^depth leaves.
  // False (and an empty layout) if the forest does not fit: depth outside
  // 1..6, more than kMaxSlots slots, or a default-left threshold that is not
  // > -inf.
  bool Build(int depth, size_t num_trees, const float* thresholds, const uint32_t* features,
             const float* leaves, uint32_t feature_mask, uint32_t default_left_bit);
  bool built() const { return depth_ > 0; }

  // Adds every tree's leaf for rows [0, nb) (row-major, n_cols >= the
  // model's features) to acc (row r's groups at acc + r * groups; tree t adds
  // to group tree_groups[t]). nb <= kBlockRows.
  void AccumulateBlock(const float* rows, size_t nb, size_t n_cols, size_t groups,
                       const int32_t* tree_groups, float* acc) const;
  // One row (acc: its `groups` margins).
  void AccumulateRow(const float* row, size_t groups, const int32_t* tree_groups,
                     float* acc) const;

 private:
  template <int D, int NV>
  void BlockVectors(const float* tb, size_t r0, size_t groups, const int32_t* tree_groups,
                    float* acc) const;
  template <int D>
  void BlockKernel(const float* rows, size_t nb, size_t n_cols, size_t groups,
                   const int32_t* tree_groups, float* acc) const;
  template <int D, bool kWideSlots>
  void RowKernel(const float* row, size_t groups, const int32_t* tree_groups, float* acc) const;

  int depth_ = 0;
  size_t num_trees_ = 0;
  size_t num_slots_ = 0;
  std::vector<int32_t> slot_features_;
  std::vector<float> slot_missing_;  // -inf (default left) or +inf
  // Batch: per tree 64 entries at 1-based heap index (root 1, children of h
  // at 2h, 2h+1): thresholds, slot * kBlockRows; leaves at heap index mod 64.
  AlignedVector<float> batch_thresholds_;
  AlignedVector<int32_t> batch_columns_;
  AlignedVector<float> batch_leaves_;
  // Single row: per group of 16 trees, 64 x 16 entries, [heap index][lane]
  // (leaves at [heap index mod 64][lane]); lanes past the last tree padded.
  AlignedVector<float> row_thresholds_;
  AlignedVector<int32_t> row_slots_;
  AlignedVector<float> row_leaves_;
};

}  // namespace tandem::runtime::forest_internal
