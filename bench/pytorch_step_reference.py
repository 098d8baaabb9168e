#!/usr/bin/python3
"""Time of one training step of the same SHERL formulation in PyTorch (Debian python3-torch),
for comparison with sherl-train on this machine: MTSA (6 tiers, d 128, h 64) + one frozen
pre-LN ViT layer (4 heads, MLP 512) + head, batch 64, 50 tokens. NT = intra-op threads.

    NT=1 OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/pytorch_step_reference.py
"""
import torch, time, torch.nn as nn, torch.nn.functional as F
torch.manual_seed(0)
import os; torch.set_num_threads(int(os.environ.get("NT","1"))); print(torch.get_num_threads())
B,T,N,d,h=64,50,6,128,64
layer = nn.TransformerEncoderLayer(d, 4, 512, dropout=0.0, activation="gelu", batch_first=True, norm_first=True)
for p in layer.parameters(): p.requires_grad_(False)
proj = nn.ModuleList([nn.Sequential(nn.Linear(d,h), nn.LayerNorm(h)) for _ in range(N)])
attn = nn.Linear(h,1); up = nn.Linear(h,d); ln = nn.LayerNorm(d, eps=1e-12); head=nn.Linear(d,5)
params = list(proj.parameters())+list(attn.parameters())+list(up.parameters())+list(ln.parameters())+list(head.parameters())
opt = torch.optim.AdamW(params, 1e-3)
x = torch.randn(B,T,N,d); y = torch.randint(0,5,(B,))
def step():
    xs = torch.stack([proj[i](x[:,:,i]) for i in range(N)], 2)
    g = xs[:,:,-1]; S = xs[:,:,:-1]
    u = S/(S.norm(dim=-1,keepdim=True)+1e-8)
    r = F.relu(u@u.transpose(-1,-2)).sum(-1)
    s = attn(S*g.unsqueeze(2)).squeeze(-1)
    a = F.relu(s)/r; a = a/(a.abs().sum(-1,keepdim=True)+1e-8)
    z = (a.unsqueeze(-1)*S).sum(2)+g
    out = ln(up(F.relu(z))) + x[:,:,-1]
    hcls = layer(out)[:,0]
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
