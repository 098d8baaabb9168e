#!/usr/bin/python3
"""Time of one training step of the same SHERL formulation in PyTorch (Debian python3-torch),
for comparison with sherl-train on this machine: MTSA (6 tiers, d 128, h 64) + one frozen
pre-LN ViT layer (4 heads, MLP 512) + head, batch 64, 50 tokens. NT = intra-op threads.

    NT=1 OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/pytorch_step_reference.py
"""
import os, sys, time
import torch, torch.nn as nn, torch.nn.functional as F
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from memory_reference import Mtsa  # the one torch.nn MTSA of the benches
torch.manual_seed(0)
torch.set_num_threads(int(os.environ.get("NT","1"))); print(torch.get_num_threads())
B,T,N,d=64,50,6,128
layer = nn.TransformerEncoderLayer(d, 4, 512, dropout=0.0, activation="gelu", batch_first=True, norm_first=True)
for p in layer.parameters(): p.requires_grad_(False)
mtsa = Mtsa(N, d); head = nn.Linear(d,5)
opt = torch.optim.AdamW(list(mtsa.parameters())+list(head.parameters()), 1e-3)
x = torch.randn(B,T,N,d); y = torch.randint(0,5,(B,))
def step():
    hcls = layer(mtsa([x[:,:,i] for i in range(N)]))[:,0]
    loss = F.cross_entropy(head(hcls), y)
    opt.zero_grad(); loss.backward(); opt.step()
for _ in range(3): step()
t=time.time()
for _ in range(20): step()
dt=(time.time()-t)/20
print("step %.4f s, epoch(71 steps) %.2f s"%(dt, dt*71))
from torch.profiler import profile, ProfilerActivity
with profile(activities=[ProfilerActivity.CPU]) as prof:
    for _ in range(5): step()
print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))
