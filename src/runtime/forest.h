// The native tree-ensemble evaluator: an XGBoost gbtree model compiled into
// flat, contiguous node arrays. Predict() does no parsing and no allocation;
// it reproduces XGBoost 1.7's CPU predictor bit for bit (float accumulation
// in tree order from the base margin, `x < threshold` goes left, NaN or an
// absent column takes the node's default direction, the objective's
// transform in float). Anything it cannot reproduce is refused at compile.
//
// Trees up to kMaxFlatDepth deep are also laid out as complete binary trees
// of the forest's depth (heap order: node i's children are 2i+1 and 2i+2, a
// shallow leaf's value copied to every padded leaf below it), so a walk is a
// fixed number of steps with no child pointers to load. Rows at least
// num_features wide are scored with that layout: where the CPU has AVX-512
// and the forest is at most 6 deep, by the AVX-512 kernels (16 lanes, most
// node lookups by permutes: forest_avx512.h); else 8 rows per AVX2 vector
// (gathers), one tree at a time for a block of rows, where the CPU has AVX2
// (checked at run time; the build needs no -march), else by a scalar walk
// interleaving 8 trees. All give bit-identical results.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/json.h"
#include "common/status.h"
#include "runtime/forest_avx512.h"

namespace tandem::runtime {

class Forest {
 public:
  // Compiles an XGBoost model document (the JSON/UBJSON form, {"learner":
  // ...}). Unsupported objectives, boosters (gblinear, dart with non-unit
  // weights), categorical splits, vector leaves or malformed trees ->
  // InvalidArgument saying what is unsupported.
  static StatusOr<Forest> FromXGBoostModel(const Json& model);

  int num_features() const { return num_features_; }
  // Margin columns (num_class for multi-class, else 1).
  int num_groups() const { return num_groups_; }
  // Scores per row after the objective transform.
  int num_outputs() const { return transform_ == Transform::kArgmax ? 1 : num_groups_; }
  size_t num_trees() const { return tree_roots_.size(); }
  size_t num_nodes() const { return nodes_.size(); }
  const std::string& objective() const { return objective_; }
  // The base margin every row starts from (ProbToMargin(base_score)).
  float base_margin() const { return base_margin_; }
  const std::vector<std::string>& feature_names() const { return feature_names_; }

  // The split thresholds of each feature (for generating probe rows).
  std::vector<std::vector<float>> SplitThresholds() const;

  // The tree-walk kernel Predict uses for full-width rows.
  enum class Kernel { kScalar, kAvx2, kAvx512 };
  Kernel kernel() const { return kernel_; }
  // Selects a kernel (tests, benchmarks): false, and no change, if the CPU
  // (or the model's layout) does not support it.
  bool SetKernel(Kernel kernel);

  // Scores rows (row-major, n_cols wide, n_cols <= num_features() is the
  // caller's check) into out[n_rows * num_outputs()] (or num_groups() margins
  // if `output_margin`). Thread-safe, allocation-free.
  void Predict(const float* rows, size_t n_rows, size_t n_cols, float* out,
               bool output_margin = false) const;

 private:
  enum class Transform { kIdentity, kSigmoid, kExp, kSoftmax, kArgmax };

  // 12 bytes. Nodes are laid out breadth-first per tree, so a node's right
  // child is always left + 1. A leaf points to itself (and never goes right),
  // so a walk of the tree's depth can run past a shallow leaf harmlessly.
  struct Node {
    float value;       // split threshold, or leaf value
    uint32_t feature;  // split feature | kDefaultLeft | kLeaf
    int32_t left;      // absolute index of the left child; a leaf's own index
  };
  static constexpr uint32_t kDefaultLeft = 1u << 31;
  static constexpr uint32_t kLeaf = 1u << 30;
  static constexpr uint32_t kFeatureMask = kLeaf - 1;
  // Trees walked side by side for one row (independent loads in flight).
  static constexpr size_t kLanes = 8;
  // Rows per block: a group of trees is walked for a whole block of rows
  // while its nodes are in L1.
  static constexpr size_t kBlockRows = 64;
  // Stack accumulator size (floats); bounds num_class.
  static constexpr size_t kAccumulator = 4096;
  // Deepest forest laid out complete (2^depth leaves per tree).
  static constexpr int kMaxFlatDepth = 8;
  static constexpr size_t kFlatPadding = 32;

  Forest() = default;
  static Status AddTree(const Json& tree, size_t index, Forest* forest);
  void ApplyTransform(const float* margins, float* out) const;
  // Adds trees' leaves for rows [0, nb) into acc (row r at acc + r * groups).
  void AccumulateWide(const float* rows, size_t nb, size_t n_cols, float* acc) const;
  void AccumulateNarrow(const float* rows, size_t nb, size_t n_cols, float* acc) const;
  // The complete-tree layout (flat_*), walked by the scalar or AVX2 kernel.
  void BuildFlat();
  void AccumulateFlat(const float* rows, size_t nb, size_t n_cols, float* acc) const;
  void AccumulateFlatTrees(const float* row, size_t first_tree, float* row_acc) const;
  void AccumulateFlatAvx2(const float* rows, size_t nb, size_t n_cols, float* acc) const;
  void AccumulateFlatAvx2Row(const float* row, float* row_acc) const;

  std::vector<Node> nodes_;
  std::vector<int32_t> tree_roots_;
  std::vector<int32_t> tree_groups_;
  std::vector<int32_t> tree_depths_;        // levels to walk to reach any leaf
  std::vector<int32_t> lane_group_depths_;  // max depth per kLanes trees
  std::vector<std::string> feature_names_;
  std::string objective_;
  Transform transform_ = Transform::kIdentity;
  float base_margin_ = 0;
  int num_features_ = 0;
  int num_groups_ = 1;
  // Complete trees of flat_depth_ levels (-1: some tree is deeper than
  // kMaxFlatDepth, no flat layout): per tree 2^depth - 1 split nodes
  // (threshold; feature | kDefaultLeft) and 2^depth leaves.
  int flat_depth_ = -1;
  std::vector<float> flat_thresholds_;
  std::vector<uint32_t> flat_features_;
  std::vector<float> flat_leaves_;
  // The same trees for the AVX-512 kernels (depth <= 6; see forest_avx512.h).
  forest_internal::Avx512Layout avx512_;
  Kernel kernel_ = Kernel::kScalar;
};

}  // namespace tandem::runtime
