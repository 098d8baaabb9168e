# The bundled example: the shipped ViT (pre-trained on Fashion-MNIST classes 0-4)
# transferred to classes 5-9, 1000 training images per class, tested on all 5000 test
# images of those classes. Used by `make -f pipelines/Makefile` (the default CONFIG).
MODEL        := examples/models/vit-tiny-fmnist5
TRAIN_INPUT  := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
TRAIN_LABELS := /usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz
TEST_INPUT   := /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz
TEST_LABELS  := /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz
SELECT_LABELS := 5,6,7,8,9
PER_LABEL    := 1000
TEST_PER_LABEL :=
OUT          := runs/fmnist-transfer
PARTS        := 2
TIERS        := all
VAL_FRACTION := 0.1
METHODS      := sherl linear
SEEDS        := 0 1 2
LRS          := 2e-3 4e-3 8e-3
# 10 epochs keep the whole job under 10 minutes on 2 cores; sherl-train's default (30)
# gains about one point of test accuracy (README, "The bundled example").
EPOCHS       := 10
