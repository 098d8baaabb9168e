#include "sherl/batch_loader.h"

namespace sherl {

Batch collate_examples(const std::vector<ShardExample>& examples, const std::vector<int64_t>& tier_positions) {
  torch::Tensor positions;
  if (!tier_positions.empty()) positions = torch::tensor(tier_positions, torch::kInt64);
  int64_t b = examples.size();
  int64_t t_max = 0;
  for (const auto& e : examples) t_max = std::max<int64_t>(t_max, e.features.size(0));
  const auto& first = examples.front().features;
  int64_t n_tiers = positions.defined() ? positions.size(0) : first.size(1);
  Batch batch;
  batch.tiers = torch::zeros({b, t_max, n_tiers, first.size(2)}, torch::kFloat32);
  batch.mask = torch::zeros({b, t_max}, torch::kInt64);
  batch.ids = torch::empty({b}, torch::kInt64);
  std::vector<torch::Tensor> labels;
  for (int64_t i = 0; i < b; ++i) {
    int64_t n = examples[i].features.size(0);
    const torch::Tensor& f = examples[i].features;
    batch.tiers[i].slice(0, 0, n).copy_(positions.defined() ? f.index_select(1, positions) : f);
    batch.mask[i].slice(0, 0, n).fill_(1);
    batch.ids[i] = examples[i].id;
    labels.push_back(examples[i].label);
  }
  batch.labels = torch::stack(labels);
  return batch;
}

BatchLoader::BatchLoader(const ShardSet& set, std::vector<int64_t> order, int64_t batch_size, size_t depth,
                         bool pin, std::vector<int64_t> tier_positions)
    : set_(set), order_(std::move(order)), batch_size_(batch_size), depth_(depth), pin_(pin),
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

int64_t BatchLoader::num_batches() const {
  return (static_cast<int64_t>(order_.size()) + batch_size_ - 1) / batch_size_;
}

void BatchLoader::produce() {
  try {
    for (size_t begin = 0; begin < order_.size(); begin += batch_size_) {
      size_t end = std::min(order_.size(), begin + static_cast<size_t>(batch_size_));
      std::vector<ShardExample> examples;
      examples.reserve(end - begin);
      for (size_t i = begin; i < end; ++i) examples.push_back(set_.read(order_[i]));
      Batch batch = collate_examples(examples, tier_positions_);
      if (pin_) {
        batch.tiers = batch.tiers.pin_memory();
        batch.mask = batch.mask.pin_memory();
      }
      std::unique_lock<std::mutex> lock(mutex_);
      changed_.wait(lock, [this] { return stop_ || queue_.size() < depth_; });
      if (stop_) return;
      queue_.push_back(std::move(batch));
      changed_.notify_all();
    }
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
