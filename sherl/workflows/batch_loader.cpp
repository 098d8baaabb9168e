#include "sherl/workflows/batch_loader.h"

#include <algorithm>
#include <cstring>
#include <random>

#include "lib/core/error.h"
#include "lib/core/float16.h"
#include "lib/shard/stored_values.h"

namespace sherl {
namespace {

struct StopRequested {};

std::vector<ReadBlock> blocks_of(const ShardSet& set, int64_t block_examples) {
  std::vector<ReadBlock> blocks;
  for (size_t s = 0; s < set.shards().size(); ++s)
    for (int64_t b = 0; b < set.shards()[s]->size(); b += block_examples)
      blocks.push_back({static_cast<int64_t>(s), b, std::min(set.shards()[s]->size(), b + block_examples)});
  return blocks;
}

// Float16 when every example is stored so: the batch keeps the stored values, which the
// MTSA's tier projections read as they are (half the bytes of float32 queued and held by a
// step). Anything else (f32, bf16, i8) is converted into float32.
torch::ScalarType batch_dtype(const std::vector<ShardExample>& examples) {
  for (const auto& e : examples)
    if (e.features.scalar_type() != torch::kFloat16 || !e.features.is_contiguous()) return torch::kFloat32;
  return torch::kFloat16;
}

// Rows [row, row + n) of an example's [T * stored] rows of d values into `to`, in the
// batch's dtype: float16 copied or widened, int8 (with its scales) dequantised.
void copy_rows(const ShardExample& e, int64_t row, int64_t n, float* to) {
  const int64_t d = e.features.size(2);
  if (e.features.scalar_type() == torch::kFloat16) return half_to_float(e.features.data_ptr<c10::Half>() + row * d, to, n * d);
  dequantise_rows_into(e.features.data_ptr<int8_t>() + row * d, e.scales.data_ptr<float>() + row, n, d, to);
}
void copy_rows(const ShardExample& e, int64_t row, int64_t n, c10::Half* to) {
  const int64_t d = e.features.size(2);
  std::memcpy(to, e.features.data_ptr<c10::Half>() + row * d, static_cast<size_t>(n * d) * sizeof(c10::Half));
}

// Row i of tiers [B, T_max, positions or all tiers, d] = the example's features [T, tiers, d]
// at those tiers (rows past T keep their zeros). Features are float16 or int8 with scales as
// a rule: copied or converted (f16 with the CPU's conversion instructions) straight into the
// batch, with no per-example LibTorch views: the loader makes 64 of these per batch.
template <typename Out>
void copy_tiers(const ShardExample& e, const std::vector<int64_t>& positions, const torch::Tensor& tiers, int64_t i) {
  const torch::Tensor& features = e.features;
  const int64_t T = features.size(0), stored = features.size(1), d = features.size(2);
  const bool half = features.scalar_type() == torch::kFloat16 && features.is_contiguous();
  const bool int8 = features.scalar_type() == torch::kInt8 && features.is_contiguous() &&
                    e.scales.defined() && e.scales.is_contiguous();
  if (!half && !int8) {
    torch::Tensor values = e.scales.defined() ? dequantise_rows(features, e.scales) : features;
    torch::Tensor dst = tiers[i].slice(0, 0, T);
    dst.copy_(positions.empty() ? values : values.index_select(1, torch::tensor(positions, torch::kInt64)));
    return;
  }
  Out* out = tiers.data_ptr<Out>() + i * tiers.stride(0);
  if (positions.empty()) return copy_rows(e, 0, T * stored, out);
  const int64_t kept = static_cast<int64_t>(positions.size());
  for (int64_t t = 0; t < T; ++t)
    for (int64_t j = 0; j < kept; ++j) copy_rows(e, t * stored + positions[j], 1, out + (t * kept + j) * d);
}

}  // namespace

Batch collate_examples(const std::vector<ShardExample>& examples, const std::vector<int64_t>& tier_positions) {
  int64_t b = examples.size();
  int64_t t_max = 0;
  for (const auto& e : examples) t_max = std::max<int64_t>(t_max, e.features.size(0));
  const auto& first = examples.front().features;
  int64_t n_tiers = tier_positions.empty() ? first.size(1) : static_cast<int64_t>(tier_positions.size());
  bool padded = false;
  for (const auto& e : examples) padded = padded || e.features.size(0) < t_max;
  Batch batch;
  // Only padding needs zeros: every other value is overwritten (and converted) by the
  // copies below.
  const std::vector<int64_t> sizes{b, t_max, n_tiers, first.size(2)};
  const torch::ScalarType dtype = batch_dtype(examples);
  batch.tiers = padded ? torch::zeros(sizes, dtype) : torch::empty(sizes, dtype);
  batch.mask = torch::zeros({b, t_max}, torch::kInt64);
  batch.ids = torch::empty({b}, torch::kInt64);
  // Labels: all of one shape and dtype (a shard set's), copied bytewise into [B, ...].
  const torch::Tensor& label0 = examples.front().label;
  std::vector<int64_t> label_sizes{b};
  label_sizes.insert(label_sizes.end(), label0.sizes().begin(), label0.sizes().end());
  batch.labels = torch::empty(label_sizes, label0.options());
  const size_t label_bytes = static_cast<size_t>(label0.numel()) * label0.element_size();
  int64_t* mask = batch.mask.data_ptr<int64_t>();
  int64_t* ids = batch.ids.data_ptr<int64_t>();
  for (int64_t i = 0; i < b; ++i) {
    const ShardExample& e = examples[i];
    if (dtype == torch::kFloat16)
      copy_tiers<c10::Half>(e, tier_positions, batch.tiers, i);
    else
      copy_tiers<float>(e, tier_positions, batch.tiers, i);
    std::fill(mask + i * t_max, mask + i * t_max + e.features.size(0), int64_t{1});
    ids[i] = e.id;
    TORCH_CHECK(e.label.sizes() == label0.sizes() && e.label.scalar_type() == label0.scalar_type(),
                "collate_examples: example ", e.id, " has a label of another shape or type");
    const torch::Tensor label = e.label.contiguous();
    std::memcpy(static_cast<char*>(batch.labels.data_ptr()) + i * label_bytes, label.data_ptr(), label_bytes);
  }
  return batch;
}

std::optional<int64_t> first_non_finite_example(const Batch& batch) {
  torch::Tensor bad_rows = torch::isfinite(batch.tiers).flatten(1).all(1).logical_not().nonzero();
  if (bad_rows.numel() == 0) return std::nullopt;
  return batch.ids[bad_rows[0][0].item<int64_t>()].item<int64_t>();
}

void check_finite(const ShardSet& set, const Batch& batch) {
  const std::optional<int64_t> bad = first_non_finite_example(batch);
  if (!bad) return;
  const int64_t id = *bad;
  std::string where = set.dir();
  for (const auto& shard : set.shards())
    if (std::find(shard->ids().begin(), shard->ids().end(), id) != shard->ids().end()) {
      where = shard->path();
      break;
    }
  throw error_at(where, "example " + std::to_string(id) + ": features hold NaN or infinite values");
}

size_t queue_depth(const ShardSet& set, int64_t batch_size, int64_t tiers_used) {
  constexpr int64_t kQueuedBytes = int64_t(64) << 20;
  const ShardSetInfo& info = set.info();
  const int64_t tiers = tiers_used > 0 ? tiers_used : static_cast<int64_t>(info.tiers.size());
  int64_t tokens = 1;  // the longest example: batches are padded to theirs
  for (const auto& shard : set.shards())
    for (int64_t i = 0; i < shard->size(); ++i) tokens = std::max(tokens, shard->num_tokens(i));
  const int64_t value_bytes = info.dtype == FeatureDType::F16 ? 2 : 4;  // as collate_examples makes them
  const int64_t batch_bytes = std::max<int64_t>(1, batch_size * tokens * tiers * info.backbone.hidden_size * value_bytes);
  return static_cast<size_t>(std::clamp<int64_t>(kQueuedBytes / batch_bytes, 1, 4));
}

ReadPlan sequential_plan(const ShardSet& set, int64_t block_examples) {
  return {blocks_of(set, block_examples), 0, 0};
}

ReadPlan shuffled_plan(const ShardSet& set, uint64_t seed, int64_t batch_size, int64_t buffer_bytes,
                       int64_t block_examples) {
  // Contiguous shards read one example as cheaply as a block: every example is its own
  // block, and the plan is a uniform permutation of the set with no buffer to fill.
  const bool random_access = set.random_access();
  ReadPlan plan{blocks_of(set, random_access ? 1 : block_examples), 0, seed};
  seeded_shuffle(plan.blocks, seed);
  if (random_access) return plan;
  const ShardSetInfo& info = set.info();
  int64_t tokens = set.size() > 0 ? std::max<int64_t>(1, set.shards()[0]->num_tokens(0)) : 1;
  const int64_t example_bytes =  // buffered as stored
      tokens * row_bytes(info.dtype, static_cast<int64_t>(info.tiers.size()), info.backbone.hidden_size);
  plan.shuffle_buffer = std::max<int64_t>(batch_size, buffer_bytes / std::max<int64_t>(1, example_bytes));
  return plan;
}

BatchLoader::BatchLoader(const ShardSet& set, ReadPlan plan, int64_t batch_size, size_t depth, bool pin,
                         std::vector<int64_t> tier_positions)
    : set_(set), plan_(std::move(plan)), batch_size_(batch_size), depth_(depth), pin_(pin),
      tier_positions_(std::move(tier_positions)) {
  thread_ = std::thread([this] { produce(); });
}

BatchLoader::~BatchLoader() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void BatchLoader::emit(std::vector<ShardExample>& pending) {
  Batch batch = collate_examples(pending, tier_positions_);
  pending.clear();
  if (pin_) {
    batch.tiers = batch.tiers.pin_memory();
    batch.mask = batch.mask.pin_memory();
  }
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [this] { return stop_ || queue_.size() < depth_; });
  if (stop_) throw StopRequested{};
  queue_.push_back(std::move(batch));
  changed_.notify_all();
}

void BatchLoader::produce() {
  try {
    std::mt19937_64 rng(plan_.seed);
    std::vector<ShardExample> buffer, pending;
    auto take = [&](ShardExample e) {
      pending.push_back(std::move(e));
      if (static_cast<int64_t>(pending.size()) == batch_size_) emit(pending);
    };
    for (const ReadBlock& block : plan_.blocks) {
      // Examples stay in the stored dtype (f16: half the bytes to copy and buffer; i8: a
      // quarter) until collate_examples converts them into the batch.
      for (auto& e : set_.shards()[block.shard]->read_range(block.begin, block.end, /*stored_dtype=*/true)) {
        if (plan_.shuffle_buffer <= 0) {
          take(std::move(e));
          continue;
        }
        e.features = e.features.clone();  // read_range's examples share one block of memory
        if (e.scales.defined()) e.scales = e.scales.clone();
        buffer.push_back(std::move(e));
        if (static_cast<int64_t>(buffer.size()) < plan_.shuffle_buffer) continue;
        size_t pick = rng() % buffer.size();
        std::swap(buffer[pick], buffer.back());
        take(std::move(buffer.back()));
        buffer.pop_back();
      }
    }
    for (int64_t i = static_cast<int64_t>(buffer.size()) - 1; i > 0; --i)
      std::swap(buffer[i], buffer[rng() % static_cast<uint64_t>(i + 1)]);
    for (auto& e : buffer) take(std::move(e));
    if (!pending.empty()) emit(pending);
  } catch (const StopRequested&) {
  } catch (...) {
    std::lock_guard<std::mutex> lock(mutex_);
    error_ = std::current_exception();
  }
  std::lock_guard<std::mutex> lock(mutex_);
  finished_ = true;
  changed_.notify_all();
}

bool BatchLoader::next(Batch& out) {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [this] { return !queue_.empty() || finished_; });
  if (!queue_.empty()) {
    out = std::move(queue_.front());
    queue_.pop_front();
    changed_.notify_all();
    return true;
  }
  if (error_) std::rethrow_exception(error_);
  return false;
}

}  // namespace sherl
