#pragma once
// What sherl-train learns from and validates on: a cached shard set (--train), or a raw
// input whose tiers the frozen early layers compute online (--input); validation on a
// cached set (--val) or, online, on the input's split-off part (--val-fraction).
#include <memory>
#include <string>

#include "lib/core/json.h"
#include "lib/model/backbone.h"
#include "sherl/workflows/evaluate.h"
#include "sherl/workflows/trainer.h"

namespace sherl {

class TrainingData {
 public:
  virtual ~TrainingData() = default;
  // What a cache of the training data records: backbone, tiers, late layers, labels, dtype.
  virtual const ShardSetInfo& info() const = 0;
  virtual const std::string& name() const = 0;  // what messages call the training data
  // What --resume compares (content hashes, selection) and records (paths, see
  // is_data_path_key): merged into the run's arguments.
  virtual json identity() const = 0;
  // Loads what training needs (the backbone; online also the input's examples) and returns
  // the backbone the late route runs. Called once, before anything is written to the run
  // directory, so that a refusal while loading leaves nothing behind.
  virtual Backbone load() = 0;
  virtual int64_t size() const = 0;  // training examples (after load())
  // The batches of one epoch in the order of `seed`.
  virtual std::unique_ptr<BatchStream> epoch(uint64_t seed, int64_t batch_size) = 0;
  // Throws naming the example when a training batch holds a non-finite tier.
  virtual void check_finite(const Batch& batch) const = 0;
  virtual bool has_validation() const = 0;
  // The models' outputs on the validation data (read once for all), targets in the models'
  // classes.
  virtual std::vector<Outputs> validate(const std::vector<AdaptedModel*>& models, int64_t batch_size,
                                        const SideBySide& side) = 0;
};

// Opens (and checks) the data of `o`: its shard sets or its online input. Nothing heavy is
// read until load().
std::unique_ptr<TrainingData> open_training_data(const TrainOptions& o);

// The keys of identity() that hold paths: how a path is spelled may change on --resume.
bool is_data_path_key(const std::string& key);

}  // namespace sherl
