#include "runtime/forest.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace tandem::runtime {
namespace {

// XGBoost writes its parameters as strings ("3E-1"); accept numbers too.
StatusOr<double> ParamNumber(const Json& obj, const char* key, const std::string& where) {
  auto it = obj.find(key);
  if (it == obj.end()) return InvalidArgumentError(absl::StrCat(where, ".", key, " is missing"));
  if (it->is_number()) return it->get<double>();
  if (it->is_string()) {
    const std::string& s = it->get_ref<const std::string&>();
    char* end = nullptr;
    double v = std::strtod(s.c_str(), &end);
    if (!s.empty() && end == s.c_str() + s.size()) return v;
  }
  return InvalidArgumentError(absl::StrCat(where, ".", key, " is not a number: ", it->dump()));
}

StatusOr<float> ParamFloat(const Json& obj, const char* key, const std::string& where) {
  auto it = obj.find(key);
  // Parse floats as float (strtof), as XGBoost does, not via double.
  if (it != obj.end() && it->is_string()) {
    const std::string& s = it->get_ref<const std::string&>();
    char* end = nullptr;
    float v = std::strtof(s.c_str(), &end);
    if (!s.empty() && end == s.c_str() + s.size()) return v;
  }
  ASSIGN_OR_RETURN(double v, ParamNumber(obj, key, where));
  return static_cast<float>(v);
}

StatusOr<const Json*> Member(const Json& obj, const char* key, const std::string& where) {
  if (!obj.is_object()) return InvalidArgumentError(absl::StrCat(where, " is not an object"));
  auto it = obj.find(key);
  if (it == obj.end()) return InvalidArgumentError(absl::StrCat(where, ".", key, " is missing"));
  return &*it;
}

StatusOr<const Json*> Array(const Json& obj, const char* key, size_t size,
                            const std::string& where) {
  ASSIGN_OR_RETURN(const Json* a, Member(obj, key, where));
  if (!a->is_array() || a->size() != size) {
    return InvalidArgumentError(
        absl::StrCat(where, ".", key, " is not an array of ", size, " elements"));
  }
  return a;
}

float Sigmoid(float x) { return 1.0f / (1.0f + std::exp(-x)); }

}  // namespace

Status Forest::AddTree(const Json& tree, size_t index, Forest* forest) {
  const std::string where = absl::StrCat("trees[", index, "]");
  ASSIGN_OR_RETURN(const Json* tree_param, Member(tree, "tree_param", where));
  ASSIGN_OR_RETURN(double num_nodes_d, ParamNumber(*tree_param, "num_nodes", where));
  if (tree_param->contains("size_leaf_vector")) {
    ASSIGN_OR_RETURN(double leaf_vector, ParamNumber(*tree_param, "size_leaf_vector", where));
    if (leaf_vector > 1) {
      return InvalidArgumentError(absl::StrCat(
          where, ": vector-leaf (multi-target) trees are not supported by the native evaluator"));
    }
  }
  if (num_nodes_d < 1 || num_nodes_d > std::numeric_limits<int32_t>::max()) {
    return InvalidArgumentError(absl::StrCat(where, " has ", num_nodes_d, " nodes"));
  }
  const size_t n = static_cast<size_t>(num_nodes_d);
  ASSIGN_OR_RETURN(const Json* left, Array(tree, "left_children", n, where));
  ASSIGN_OR_RETURN(const Json* right, Array(tree, "right_children", n, where));
  ASSIGN_OR_RETURN(const Json* indices, Array(tree, "split_indices", n, where));
  ASSIGN_OR_RETURN(const Json* conditions, Array(tree, "split_conditions", n, where));
  ASSIGN_OR_RETURN(const Json* default_left, Array(tree, "default_left", n, where));
  if (tree.contains("split_type")) {
    ASSIGN_OR_RETURN(const Json* split_type, Array(tree, "split_type", n, where));
    for (const Json& t : *split_type) {
      if (!t.is_number() || t.get<double>() != 0) {
        return InvalidArgumentError(
            absl::StrCat(where, ": categorical splits are not supported by the native evaluator"));
      }
    }
  }
  try {
    // Lay out the reachable nodes breadth-first (siblings adjacent); this also
    // rejects out-of-range children and cycles.
    const int32_t base = static_cast<int32_t>(forest->nodes_.size());
    std::vector<int32_t> order = {0};
    std::vector<int32_t> new_index(n, -1);
    new_index[0] = 0;
    for (size_t k = 0; k < order.size(); ++k) {
      const int32_t i = order[k];
      const int64_t l = (*left)[i].get<int64_t>();
      const int64_t r = (*right)[i].get<int64_t>();
      if (l == -1) continue;
      for (int64_t c : {l, r}) {
        if (c < 0 || static_cast<size_t>(c) >= n || new_index[c] != -1) {
          return InvalidArgumentError(
              absl::StrCat(where, ": node ", i, " has an invalid child ", c));
        }
        new_index[c] = static_cast<int32_t>(order.size());
        order.push_back(static_cast<int32_t>(c));
      }
    }
    std::vector<int32_t> depth(order.size(), 0);
    int32_t tree_depth = 0;
    for (size_t k = 0; k < order.size(); ++k) {
      const int32_t i = order[k];
      Node node;
      node.value = static_cast<float>((*conditions)[i].get<double>());
      const int64_t l = (*left)[i].get<int64_t>();
      if (l == -1) {
        node.feature = kLeaf;
        node.left = base + static_cast<int32_t>(k);
        tree_depth = std::max(tree_depth, depth[k]);
      } else {
        const int64_t f = (*indices)[i].get<int64_t>();
        if (f < 0 || f >= forest->num_features_) {
          return InvalidArgumentError(absl::StrCat(where, ": node ", i, " splits on feature ", f,
                                                   " but the model has ", forest->num_features_,
                                                   " features"));
        }
        const Json& d = (*default_left)[i];
        const bool dl = d.is_boolean() ? d.get<bool>() : d.get<int64_t>() != 0;
        node.feature = static_cast<uint32_t>(f) | (dl ? kDefaultLeft : 0u);
        node.left = base + new_index[l];
        // Breadth-first: the right child directly follows the left one.
        if (new_index[(*right)[i].get<int64_t>()] != new_index[l] + 1) {
          return InternalError(absl::StrCat(where, ": node layout failed at node ", i));
        }
        depth[new_index[l]] = depth[new_index[l] + 1] = depth[k] + 1;
      }
      forest->nodes_.push_back(node);
    }
    forest->tree_depths_.push_back(tree_depth);
    forest->tree_roots_.push_back(base);
  } catch (const Json::exception& e) {
    return InvalidArgumentError(absl::StrCat(where, " is malformed: ", e.what()));
  }
  return OkStatus();
}

StatusOr<Forest> Forest::FromXGBoostModel(const Json& model) {
  Forest forest;
  ASSIGN_OR_RETURN(const Json* learner, Member(model, "learner", "model"));
  ASSIGN_OR_RETURN(const Json* param, Member(*learner, "learner_model_param", "learner"));
  ASSIGN_OR_RETURN(const Json* objective, Member(*learner, "objective", "learner"));
  ASSIGN_OR_RETURN(const Json* booster, Member(*learner, "gradient_booster", "learner"));

  ASSIGN_OR_RETURN(double num_feature, ParamNumber(*param, "num_feature", "learner_model_param"));
  ASSIGN_OR_RETURN(double num_class, ParamNumber(*param, "num_class", "learner_model_param"));
  ASSIGN_OR_RETURN(float base_score, ParamFloat(*param, "base_score", "learner_model_param"));
  if (param->contains("num_target")) {
    ASSIGN_OR_RETURN(double num_target, ParamNumber(*param, "num_target", "learner_model_param"));
    if (num_target > 1) {
      return InvalidArgumentError(absl::StrCat("multi-target models (num_target=", num_target,
                                               ") are not supported by the native evaluator"));
    }
  }
  if (num_feature < 1 || num_feature >= kFeatureMask) {
    return InvalidArgumentError(absl::StrCat("model has num_feature=", num_feature));
  }
  if (num_class < 0 || num_class > static_cast<double>(kAccumulator)) {
    return InvalidArgumentError(
        absl::StrCat("num_class=", num_class, " is not supported by the native evaluator"));
  }
  forest.num_features_ = static_cast<int>(num_feature);
  forest.num_groups_ = std::max(1, static_cast<int>(num_class));
  if (auto it = learner->find("feature_names"); it != learner->end() && it->is_array()) {
    for (const Json& name : *it) {
      if (name.is_string()) forest.feature_names_.push_back(name.get<std::string>());
    }
    if (forest.feature_names_.size() != static_cast<size_t>(forest.num_features_)) {
      forest.feature_names_.clear();
    }
  }

  // Objective: how the base score becomes a margin (ProbToMargin) and how
  // margins become scores (PredTransform), as in XGBoost 1.7.
  ASSIGN_OR_RETURN(const Json* name, Member(*objective, "name", "learner.objective"));
  if (!name->is_string()) return InvalidArgumentError("learner.objective.name is not a string");
  forest.objective_ = name->get<std::string>();
  const std::string& obj = forest.objective_;
  const bool multi = obj == "multi:softprob" || obj == "multi:softmax";
  if (obj == "binary:logistic" || obj == "reg:logistic") {
    if (!(base_score > 0.0f && base_score < 1.0f)) {
      return InvalidArgumentError(
          absl::StrCat("base_score ", base_score, " is outside (0,1) for ", obj));
    }
    forest.base_margin_ = -std::log(1.0f / base_score - 1.0f);
    forest.transform_ = Transform::kSigmoid;
  } else if (obj == "binary:logitraw" || obj == "reg:squarederror" || obj == "reg:linear" ||
             obj == "reg:squaredlogerror" || obj == "reg:pseudohubererror") {
    forest.base_margin_ = base_score;
    forest.transform_ = Transform::kIdentity;
  } else if (obj == "count:poisson" || obj == "reg:gamma" || obj == "reg:tweedie") {
    if (!(base_score > 0.0f)) {
      return InvalidArgumentError(absl::StrCat("base_score ", base_score, " is not > 0 for ", obj));
    }
    forest.base_margin_ = std::log(base_score);
    forest.transform_ = Transform::kExp;
  } else if (multi) {
    if (num_class < 1) return InvalidArgumentError(absl::StrCat(obj, " model has num_class=0"));
    forest.base_margin_ = base_score;
    forest.transform_ = obj == "multi:softprob" ? Transform::kSoftmax : Transform::kArgmax;
  } else {
    return InvalidArgumentError(
        absl::StrCat("objective '", obj, "' is not supported by the native evaluator"));
  }
  if (!multi && forest.num_groups_ != 1) {
    return InvalidArgumentError(absl::StrCat("objective '", obj, "' with num_class=", num_class,
                                             " is not supported by the native evaluator"));
  }

  // Booster: gbtree, or dart whose tree weights are all 1 (then identical).
  ASSIGN_OR_RETURN(const Json* booster_name, Member(*booster, "name", "gradient_booster"));
  const std::string bname = booster_name->is_string() ? booster_name->get<std::string>() : "";
  const Json* gbtree = booster;
  if (bname == "dart") {
    ASSIGN_OR_RETURN(gbtree, Member(*booster, "gbtree", "gradient_booster"));
    ASSIGN_OR_RETURN(const Json* weights, Member(*booster, "weight_drop", "gradient_booster"));
    if (!weights->is_array()) return InvalidArgumentError("dart weight_drop is not an array");
    for (const Json& w : *weights) {
      if (!w.is_number() || w.get<double>() != 1.0) {
        return InvalidArgumentError(
            "dart boosters with tree weights other than 1 are not supported by the native "
            "evaluator");
      }
    }
  } else if (bname != "gbtree") {
    return InvalidArgumentError(absl::StrCat("booster '", bname,
                                             "' is not supported by the native evaluator "
                                             "(only gbtree, and dart with unit weights)"));
  }
  ASSIGN_OR_RETURN(const Json* gmodel, Member(*gbtree, "model", "gradient_booster"));
  ASSIGN_OR_RETURN(const Json* gparam, Member(*gmodel, "gbtree_model_param", "gbtree.model"));
  ASSIGN_OR_RETURN(double num_trees, ParamNumber(*gparam, "num_trees", "gbtree_model_param"));
  if (gparam->contains("size_leaf_vector")) {
    ASSIGN_OR_RETURN(double lv, ParamNumber(*gparam, "size_leaf_vector", "gbtree_model_param"));
    if (lv > 1) {
      return InvalidArgumentError(
          "vector-leaf (multi-target) trees are not supported by the native evaluator");
    }
  }
  if (num_trees < 0) return InvalidArgumentError("gbtree_model_param.num_trees is negative");
  const size_t t = static_cast<size_t>(num_trees);
  ASSIGN_OR_RETURN(const Json* trees, Array(*gmodel, "trees", t, "gbtree.model"));
  ASSIGN_OR_RETURN(const Json* tree_info, Array(*gmodel, "tree_info", t, "gbtree.model"));
  for (size_t i = 0; i < t; ++i) {
    const Json& g = (*tree_info)[i];
    if (!g.is_number_integer() || g.get<int64_t>() < 0 || g.get<int64_t>() >= forest.num_groups_) {
      return InvalidArgumentError(absl::StrCat("tree_info[", i, "] = ", g.dump(),
                                               " is not a class in [0, ", forest.num_groups_, ")"));
    }
    forest.tree_groups_.push_back(static_cast<int32_t>(g.get<int64_t>()));
    RETURN_IF_ERROR(AddTree((*trees)[i], i, &forest));
  }
  for (size_t i = 0; i < t; i += kLanes) {
    int32_t d = 0;
    for (size_t k = i; k < std::min(t, i + kLanes); ++k) d = std::max(d, forest.tree_depths_[k]);
    forest.lane_group_depths_.push_back(d);
  }
  forest.BuildFlat();
  return forest;
}

void Forest::BuildFlat() {
  int32_t depth = 0;
  for (int32_t d : tree_depths_) depth = std::max(depth, d);
  if (depth > kMaxFlatDepth) return;
  const size_t inner = (size_t{1} << depth) - 1;
  const size_t leaves = size_t{1} << depth;
  const size_t trees = tree_roots_.size();
  // Padded: the AVX2 kernel loads a tree's first 31 nodes as registers.
  flat_thresholds_.assign(trees * inner + kFlatPadding, 0.0f);
  flat_features_.assign(trees * inner + kFlatPadding, 0u);
  flat_leaves_.assign(trees * leaves, 0.0f);
  std::vector<std::tuple<int32_t, size_t, int32_t>> stack;  // node, heap index, level
  for (size_t t = 0; t < trees; ++t) {
    stack.assign(1, {tree_roots_[t], 0, 0});
    while (!stack.empty()) {
      const auto [i, h, level] = stack.back();
      stack.pop_back();
      const Node& node = nodes_[static_cast<size_t>(i)];
      if (level == depth) {  // no tree is deeper: this is a leaf
        flat_leaves_[t * leaves + h - inner] = node.value;
      } else if (node.feature & kLeaf) {
        // A shallow leaf: a padding split whose both ways reach the same value.
        stack.push_back({i, 2 * h + 1, level + 1});
        stack.push_back({i, 2 * h + 2, level + 1});
      } else {
        flat_thresholds_[t * inner + h] = node.value;
        flat_features_[t * inner + h] = node.feature;
        stack.push_back({node.left, 2 * h + 1, level + 1});
        stack.push_back({node.left + 1, 2 * h + 2, level + 1});
      }
    }
  }
  flat_depth_ = depth;
  avx512_.Build(depth, trees, flat_thresholds_.data(), flat_features_.data(), flat_leaves_.data(),
                kFeatureMask, kDefaultLeft);
  if (!SetKernel(Kernel::kAvx512) && !SetKernel(Kernel::kAvx2)) kernel_ = Kernel::kScalar;
}

bool Forest::SetKernel(Kernel kernel) {
  if (kernel == Kernel::kAvx2 && (flat_depth_ < 0 || !__builtin_cpu_supports("avx2"))) {
    return false;
  }
  if (kernel == Kernel::kAvx512 &&
      (!avx512_.built() || !forest_internal::Avx512Layout::CpuSupported())) {
    return false;
  }
  kernel_ = kernel;
  return true;
}

std::vector<std::vector<float>> Forest::SplitThresholds() const {
  std::vector<std::vector<float>> out(static_cast<size_t>(num_features_));
  for (const Node& node : nodes_) {
    if (!(node.feature & kLeaf)) out[node.feature & kFeatureMask].push_back(node.value);
  }
  return out;
}

void Forest::ApplyTransform(const float* margins, float* out) const {
  const int g = num_groups_;
  switch (transform_) {
    case Transform::kIdentity:
      std::copy(margins, margins + g, out);
      break;
    case Transform::kSigmoid:
      out[0] = Sigmoid(margins[0]);
      break;
    case Transform::kExp:
      out[0] = std::exp(margins[0]);
      break;
    case Transform::kSoftmax: {
      // common::Softmax: float max, double sum of float exps, float divide.
      float wmax = margins[0];
      for (int k = 1; k < g; ++k) wmax = std::fmax(margins[k], wmax);
      double wsum = 0;
      for (int k = 0; k < g; ++k) {
        out[k] = std::exp(margins[k] - wmax);
        wsum += out[k];
      }
      for (int k = 0; k < g; ++k) out[k] /= static_cast<float>(wsum);
      break;
    }
    case Transform::kArgmax: {
      int best = 0;
      for (int k = 1; k < g; ++k) {
        if (margins[k] > margins[best]) best = k;
      }
      out[0] = static_cast<float>(best);
      break;
    }
  }
}

// Rows at least num_features wide: every split feature is in the row, so the
// walk is branch-free: right = !(v < threshold), except a missing value goes
// its default way and a leaf stays put.
void Forest::AccumulateWide(const float* rows, size_t nb, size_t n_cols, float* acc) const {
  const size_t groups = static_cast<size_t>(num_groups_);
  const Node* nodes = nodes_.data();
  const size_t num_trees = tree_roots_.size();
  for (size_t t0 = 0, lane_group = 0; t0 < num_trees; t0 += kLanes, ++lane_group) {
    const size_t lanes = std::min(kLanes, num_trees - t0);
    const int32_t depth = lane_group_depths_[lane_group];
    for (size_t r = 0; r < nb; ++r) {
      const float* row = rows + r * n_cols;
      int32_t idx[kLanes];
      for (size_t k = 0; k < lanes; ++k) idx[k] = tree_roots_[t0 + k];
      for (int32_t d = 0; d < depth; ++d) {
        for (size_t k = 0; k < lanes; ++k) {
          const Node& node = nodes[idx[k]];
          const float v = row[node.feature & kFeatureMask];
          const bool missing_left = std::isnan(v) & ((node.feature & kDefaultLeft) != 0);
          const bool right = !(v < node.value) & !missing_left & ((node.feature & kLeaf) == 0);
          idx[k] = node.left + static_cast<int32_t>(right);
        }
      }
      float* row_acc = acc + r * groups;
      for (size_t k = 0; k < lanes; ++k) row_acc[tree_groups_[t0 + k]] += nodes[idx[k]].value;
    }
  }
}

// The complete-tree layout, scalar: a fixed number of steps per tree
// (idx -> 2 idx + 1 + right), 8 trees side by side for each row.
void Forest::AccumulateFlat(const float* rows, size_t nb, size_t n_cols, float* acc) const {
  const size_t groups = static_cast<size_t>(num_groups_);
  for (size_t r = 0; r < nb; ++r) AccumulateFlatTrees(rows + r * n_cols, 0, acc + r * groups);
}

// Trees [first, end) for one row, scalar.
void Forest::AccumulateFlatTrees(const float* row, size_t first, float* row_acc) const {
  const size_t inner = (size_t{1} << flat_depth_) - 1;
  const size_t leaves = size_t{1} << flat_depth_;
  const size_t num_trees = tree_roots_.size();
  for (size_t t0 = first; t0 < num_trees; t0 += kLanes) {
    const size_t lanes = std::min(kLanes, num_trees - t0);
    const float* thresholds = flat_thresholds_.data() + t0 * inner;
    const uint32_t* features = flat_features_.data() + t0 * inner;
    {
      uint32_t idx[kLanes] = {};
      for (int32_t d = 0; d < flat_depth_; ++d) {
        for (size_t k = 0; k < lanes; ++k) {
          const size_t at = k * inner + idx[k];
          const uint32_t f = features[at];
          const float v = row[f & kFeatureMask];
          const bool missing_left = std::isnan(v) & ((f & kDefaultLeft) != 0);
          const bool right = !(v < thresholds[at]) & !missing_left;
          idx[k] = 2 * idx[k] + 1 + static_cast<uint32_t>(right);
        }
      }
      for (size_t k = 0; k < lanes; ++k) {
        row_acc[tree_groups_[t0 + k]] += flat_leaves_[(t0 + k) * leaves + idx[k] - inner];
      }
    }
  }
}

namespace {

// One step down for 8 walks: the split (f, threshold) applied to x; returns
// 2 idx + 1 + right.
__attribute__((target("avx2"))) inline __m256i Step(__m256i idx, __m256i f, __m256 threshold,
                                                    __m256 x) {
  const __m256 not_less = _mm256_cmp_ps(x, threshold, _CMP_NLT_UQ);  // NaN: true
  const __m256 missing = _mm256_cmp_ps(x, x, _CMP_UNORD_Q);
  const __m256 default_left = _mm256_castsi256_ps(_mm256_srai_epi32(f, 31));  // kDefaultLeft
  const __m256 right = _mm256_andnot_ps(_mm256_and_ps(missing, default_left), not_less);
  // right is all ones (-1) when taken.
  return _mm256_sub_epi32(_mm256_add_epi32(_mm256_add_epi32(idx, idx), _mm256_set1_epi32(1)),
                          _mm256_castps_si256(right));
}

}  // namespace

// The complete-tree layout, AVX2: 8 rows per vector, up to 8 vectors (64
// rows) walking one tree together (independent chains in flight), trees in
// order so each row's float sum is the scalar one. The first levels' nodes
// (1, 2, 4, 8, 16: contiguous in heap order) sit in registers and are picked
// by permutes; deeper nodes, row values and leaves are gathered. Leftover
// rows go one by one through AccumulateFlatAvx2Row.
__attribute__((target("avx2"))) void Forest::AccumulateFlatAvx2(const float* rows, size_t nb,
                                                                size_t n_cols, float* acc) const {
  constexpr size_t kVectors = 8;
  constexpr int32_t kPermuted = 5;  // levels 0..4 by permutes
  const size_t groups = static_cast<size_t>(num_groups_);
  const size_t inner = (size_t{1} << flat_depth_) - 1;
  const size_t leaves = size_t{1} << flat_depth_;
  const size_t num_trees = tree_roots_.size();
  const size_t full = nb / 8 * 8;
  const int32_t permuted = std::min(flat_depth_, kPermuted);
  const __m256i feature_mask = _mm256_set1_epi32(static_cast<int>(kFeatureMask));
  const __m256i leaf_base = _mm256_set1_epi32(static_cast<int>(inner));
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  for (size_t r0 = 0; r0 < full; r0 += 8 * kVectors) {
    const size_t nv = std::min(kVectors, (full - r0) / 8);
    const float* block = rows + r0 * n_cols;
    __m256i row_offset[kVectors];
    __m256 sum[kVectors];
    for (size_t v = 0; v < nv; ++v) {
      row_offset[v] =
          _mm256_mullo_epi32(_mm256_add_epi32(lane, _mm256_set1_epi32(static_cast<int>(8 * v))),
                             _mm256_set1_epi32(static_cast<int>(n_cols)));
      sum[v] = groups == 1 ? _mm256_loadu_ps(acc + r0 + 8 * v) : _mm256_setzero_ps();
    }
    for (size_t t = 0; t < num_trees; ++t) {
      const float* thresholds = flat_thresholds_.data() + t * inner;
      const int* features = reinterpret_cast<const int*>(flat_features_.data() + t * inner);
      // Levels 0..3 in one register each; level 4 in two (the arrays are
      // padded, so reading past a small tree is harmless).
      __m256i level_f[kPermuted + 1];
      __m256 level_t[kPermuted + 1];
      for (int32_t d = 0; d < permuted; ++d) {
        const size_t first = (size_t{1} << d) - 1;
        level_f[d] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(features + first));
        level_t[d] = _mm256_loadu_ps(thresholds + first);
      }
      if (permuted == kPermuted) {
        level_f[kPermuted] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(features + 23));
        level_t[kPermuted] = _mm256_loadu_ps(thresholds + 23);
      }
      __m256i idx[kVectors];
      for (size_t v = 0; v < nv; ++v) idx[v] = _mm256_setzero_si256();
      for (int32_t d = 0; d < flat_depth_; ++d) {
        const __m256i first = _mm256_set1_epi32((1 << d) - 1);
        for (size_t v = 0; v < nv; ++v) {
          __m256i f;
          __m256 threshold;
          if (d < 4) {
            const __m256i local = _mm256_sub_epi32(idx[v], first);
            f = _mm256_permutevar8x32_epi32(level_f[d], local);
            threshold = _mm256_permutevar8x32_ps(level_t[d], local);
          } else if (d == 4) {
            const __m256i local = _mm256_sub_epi32(idx[v], first);
            const __m256 high = _mm256_castsi256_ps(_mm256_slli_epi32(local, 28));  // bit 3
            f = _mm256_castps_si256(_mm256_blendv_ps(
                _mm256_castsi256_ps(_mm256_permutevar8x32_epi32(level_f[4], local)),
                _mm256_castsi256_ps(_mm256_permutevar8x32_epi32(level_f[5], local)), high));
            threshold = _mm256_blendv_ps(_mm256_permutevar8x32_ps(level_t[4], local),
                                         _mm256_permutevar8x32_ps(level_t[5], local), high);
          } else {
            f = _mm256_i32gather_epi32(features, idx[v], 4);
            threshold = _mm256_i32gather_ps(thresholds, idx[v], 4);
          }
          const __m256 x = _mm256_i32gather_ps(
              block, _mm256_add_epi32(row_offset[v], _mm256_and_si256(f, feature_mask)), 4);
          idx[v] = Step(idx[v], f, threshold, x);
        }
      }
      const float* tree_leaves = flat_leaves_.data() + t * leaves;
      for (size_t v = 0; v < nv; ++v) {
        const __m256 leaf =
            _mm256_i32gather_ps(tree_leaves, _mm256_sub_epi32(idx[v], leaf_base), 4);
        if (groups == 1) {
          sum[v] = _mm256_add_ps(sum[v], leaf);
        } else {
          alignas(32) float lv[8];
          _mm256_store_ps(lv, leaf);
          float* a = acc + (r0 + 8 * v) * groups + static_cast<size_t>(tree_groups_[t]);
          for (size_t j = 0; j < 8; ++j) a[j * groups] += lv[j];
        }
      }
    }
    if (groups == 1) {
      for (size_t v = 0; v < nv; ++v) _mm256_storeu_ps(acc + r0 + 8 * v, sum[v]);
    }
  }
  for (size_t r = full; r < nb; ++r) AccumulateFlatAvx2Row(rows + r * n_cols, acc + r * groups);
}

// One row, AVX2: 8 trees per vector (lane k walks tree t0 + k), up to 4
// vectors in flight; the leaves are then added one by one in tree order.
__attribute__((target("avx2"))) void Forest::AccumulateFlatAvx2Row(const float* row,
                                                                   float* acc) const {
  constexpr size_t kVectors = 4;
  const size_t inner = (size_t{1} << flat_depth_) - 1;
  const size_t leaves = size_t{1} << flat_depth_;
  const size_t num_trees = tree_roots_.size();
  const __m256i feature_mask = _mm256_set1_epi32(static_cast<int>(kFeatureMask));
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i node_stride = _mm256_mullo_epi32(lane, _mm256_set1_epi32(static_cast<int>(inner)));
  const __m256i leaf_stride = _mm256_mullo_epi32(lane, _mm256_set1_epi32(static_cast<int>(leaves)));
  const int* all_features = reinterpret_cast<const int*>(flat_features_.data());
  const size_t full = num_trees / 8 * 8;
  for (size_t t0 = 0; t0 < full; t0 += 8 * kVectors) {
    const size_t nv = std::min(kVectors, (full - t0) / 8);
    __m256i idx[kVectors];
    for (size_t v = 0; v < nv; ++v) idx[v] = _mm256_setzero_si256();
    for (int32_t d = 0; d < flat_depth_; ++d) {
      for (size_t v = 0; v < nv; ++v) {
        const size_t base = (t0 + 8 * v) * inner;
        const __m256i at = _mm256_add_epi32(node_stride, idx[v]);
        const __m256i f = _mm256_i32gather_epi32(all_features + base, at, 4);
        const __m256 threshold = _mm256_i32gather_ps(flat_thresholds_.data() + base, at, 4);
        const __m256 x = _mm256_i32gather_ps(row, _mm256_and_si256(f, feature_mask), 4);
        idx[v] = Step(idx[v], f, threshold, x);
      }
    }
    for (size_t v = 0; v < nv; ++v) {
      const size_t t = t0 + 8 * v;
      const __m256i at = _mm256_add_epi32(
          leaf_stride, _mm256_sub_epi32(idx[v], _mm256_set1_epi32(static_cast<int>(inner))));
      alignas(32) float lv[8];
      _mm256_store_ps(lv, _mm256_i32gather_ps(flat_leaves_.data() + t * leaves, at, 4));
      for (size_t k = 0; k < 8; ++k) acc[tree_groups_[t + k]] += lv[k];
    }
  }
  if (full < num_trees) AccumulateFlatTrees(row, full, acc);
}

// Narrower rows: absent columns are missing (bounds-checked walk).
void Forest::AccumulateNarrow(const float* rows, size_t nb, size_t n_cols, float* acc) const {
  const size_t groups = static_cast<size_t>(num_groups_);
  const Node* nodes = nodes_.data();
  for (size_t t = 0; t < tree_roots_.size(); ++t) {
    float* acc_g = acc + tree_groups_[t];
    for (size_t r = 0; r < nb; ++r) {
      const float* row = rows + r * n_cols;
      int32_t i = tree_roots_[t];
      while (!(nodes[i].feature & kLeaf)) {
        const Node& node = nodes[i];
        const uint32_t f = node.feature & kFeatureMask;
        const float v = f < n_cols ? row[f] : std::numeric_limits<float>::quiet_NaN();
        const bool right = std::isnan(v) ? !(node.feature & kDefaultLeft) : !(v < node.value);
        i = node.left + static_cast<int32_t>(right);
      }
      acc_g[r * groups] += nodes[i].value;
    }
  }
}

void Forest::Predict(const float* rows, size_t n_rows, size_t n_cols, float* out,
                     bool output_margin) const {
  // The AVX-512 batch kernel takes at most its block of rows at a time.
  static_assert(kBlockRows <= forest_internal::Avx512Layout::kBlockRows);
  const size_t groups = static_cast<size_t>(num_groups_);
  const size_t block = std::min(kBlockRows, kAccumulator / groups);
  const size_t out_width = output_margin ? groups : static_cast<size_t>(num_outputs());
  const bool wide = n_cols >= static_cast<size_t>(num_features_);
  float acc[kAccumulator];
  for (size_t start = 0; start < n_rows; start += block) {
    const size_t nb = std::min(block, n_rows - start);
    std::fill(acc, acc + nb * groups, base_margin_);
    const float* first = rows + start * n_cols;
    if (wide && kernel_ == Kernel::kAvx512) {
      avx512_.AccumulateBlock(first, nb, n_cols, groups, tree_groups_.data(), acc);
    } else if (wide && kernel_ == Kernel::kAvx2) {
      AccumulateFlatAvx2(first, nb, n_cols, acc);
    } else if (wide && flat_depth_ >= 0) {
      AccumulateFlat(first, nb, n_cols, acc);
    } else if (wide) {
      AccumulateWide(first, nb, n_cols, acc);
    } else {
      AccumulateNarrow(first, nb, n_cols, acc);
    }
    float* dst = out + start * out_width;
    if (output_margin) {
      std::copy(acc, acc + nb * groups, dst);
    } else {
      for (size_t r = 0; r < nb; ++r) ApplyTransform(acc + r * groups, dst + r * out_width);
    }
  }
}

}  // namespace tandem::runtime
