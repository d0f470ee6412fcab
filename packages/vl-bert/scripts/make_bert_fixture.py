"""Writes a tiny BERT in plain PyTorch with Hugging Face's bert-base-uncased state_dict key names
(BertForPreTraining: `bert.embeddings.*`, `bert.encoder.layer.N.attention.self.query.*`, ...,
`bert.pooler.dense.*`, `cls.predictions.*`, `cls.seq_relationship.*`), following transformers'
modeling_bert.py: GELU with erf, LayerNorm eps 1e-12, separate query/key/value, post-norm residuals, the
additive attention mask (1 - mask) * -10000, the MLM head with its decoder tied to the word embeddings.
transformers is not installable here, so the layers are written out; the structure is the published one.

Seeded float64 weights; writes
  test/fixtures/bert-tiny.pth   the state_dict as torch.save writes it (the tied decoder weight included)
  test/fixtures/bert-tiny.json  config, input_ids, token_type_ids, attention_mask, every hidden state
                                (embeddings + each layer), the pooled output and the MLM logits
Run: /usr/bin/python3 scripts/make_bert_fixture.py (from packages/vl-bert).
"""
import json
import math
import os

import torch
import torch.nn.functional as F
from torch import nn

torch.set_default_dtype(torch.float64)
torch.manual_seed(21)
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, '..', 'test', 'fixtures')

CONFIG = dict(vocab_size=40, hidden_size=16, num_hidden_layers=2, num_attention_heads=4, intermediate_size=24,
              max_position_embeddings=24, type_vocab_size=2, layer_norm_eps=1e-12)


class BertEmbeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.word_embeddings = nn.Embedding(c['vocab_size'], c['hidden_size'])
        self.position_embeddings = nn.Embedding(c['max_position_embeddings'], c['hidden_size'])
        self.token_type_embeddings = nn.Embedding(c['type_vocab_size'], c['hidden_size'])
        self.LayerNorm = nn.LayerNorm(c['hidden_size'], eps=c['layer_norm_eps'])

    def forward(self, input_ids, token_type_ids):
        positions = torch.arange(input_ids.shape[1]).unsqueeze(0)
        x = self.word_embeddings(input_ids) + self.position_embeddings(positions) + self.token_type_embeddings(token_type_ids)
        return self.LayerNorm(x)


class BertSelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.heads = c['num_attention_heads']
        h = c['hidden_size']
        self.query, self.key, self.value = nn.Linear(h, h), nn.Linear(h, h), nn.Linear(h, h)

    def forward(self, x, additive_mask):
        n, l, h = x.shape
        split = lambda t: t.view(n, l, self.heads, h // self.heads).permute(0, 2, 1, 3)
        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(h // self.heads) + additive_mask
        return (scores.softmax(-1) @ v).permute(0, 2, 1, 3).reshape(n, l, h)


class BertSelfOutput(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c['hidden_size'], c['hidden_size'])
        self.LayerNorm = nn.LayerNorm(c['hidden_size'], eps=c['layer_norm_eps'])

    def forward(self, h, x):
        return self.LayerNorm(self.dense(h) + x)


class BertAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self = BertSelfAttention(c)
        self.output = BertSelfOutput(c)

    def forward(self, x, mask):
        return self.output(self.self(x, mask), x)


class BertIntermediate(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c['hidden_size'], c['intermediate_size'])

    def forward(self, x):
        return F.gelu(self.dense(x))  # the erf form, as HF's 'gelu'


class BertOutput(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c['intermediate_size'], c['hidden_size'])
        self.LayerNorm = nn.LayerNorm(c['hidden_size'], eps=c['layer_norm_eps'])

    def forward(self, h, x):
        return self.LayerNorm(self.dense(h) + x)


class BertLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = BertAttention(c)
        self.intermediate = BertIntermediate(c)
        self.output = BertOutput(c)

    def forward(self, x, mask):
        a = self.attention(x, mask)
        return self.output(self.intermediate(a), a)


class BertEncoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList([BertLayer(c) for _ in range(c['num_hidden_layers'])])


class BertPooler(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c['hidden_size'], c['hidden_size'])

    def forward(self, x):
        return torch.tanh(self.dense(x[:, 0]))


class BertModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embeddings = BertEmbeddings(c)
        self.encoder = BertEncoder(c)
        self.pooler = BertPooler(c)

    def forward(self, input_ids, token_type_ids, attention_mask):
        additive = (1.0 - attention_mask[:, None, None, :]) * -10000.0
        hidden = [self.embeddings(input_ids, token_type_ids)]
        for layer in self.encoder.layer:
            hidden.append(layer(hidden[-1], additive))
        return hidden, self.pooler(hidden[-1])


class BertPredictionHeadTransform(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c['hidden_size'], c['hidden_size'])
        self.LayerNorm = nn.LayerNorm(c['hidden_size'], eps=c['layer_norm_eps'])

    def forward(self, x):
        return self.LayerNorm(F.gelu(self.dense(x)))


class BertLMPredictionHead(nn.Module):
    def __init__(self, c, word_embeddings):
        super().__init__()
        self.transform = BertPredictionHeadTransform(c)
        self.decoder = nn.Linear(c['hidden_size'], c['vocab_size'], bias=False)
        self.decoder.weight = word_embeddings.weight  # tied, as HF does
        self.bias = nn.Parameter(torch.zeros(c['vocab_size']))

    def forward(self, x):
        return self.decoder(self.transform(x)) + self.bias


class BertPreTrainingHeads(nn.Module):
    def __init__(self, c, word_embeddings):
        super().__init__()
        self.predictions = BertLMPredictionHead(c, word_embeddings)
        self.seq_relationship = nn.Linear(c['hidden_size'], 2)


class BertForPreTraining(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.bert = BertModel(c)
        self.cls = BertPreTrainingHeads(c, self.bert.embeddings.word_embeddings)


model = BertForPreTraining(CONFIG).eval()
with torch.no_grad():
    # Non-trivial norms and MLM bias, so a swapped weight/bias or a missing term shows.
    for name, p in model.named_parameters():
        if 'LayerNorm' in name or name.endswith('predictions.bias'):
            p.copy_((1.0 if name.endswith('weight') else 0.0) + 0.2 * torch.randn_like(p))

input_ids = torch.tensor([[2, 7, 11, 19, 3, 23, 31, 3, 0, 0], [2, 5, 8, 13, 21, 34, 3, 9, 39, 3]])
token_type_ids = torch.tensor([[0, 0, 0, 0, 0, 1, 1, 1, 0, 0], [0, 0, 0, 0, 0, 0, 0, 1, 1, 1]])
attention_mask = torch.tensor([[1, 1, 1, 1, 1, 1, 1, 1, 0, 0], [1] * 10], dtype=torch.float64)
with torch.no_grad():
    hidden, pooled = model.bert(input_ids, token_type_ids, attention_mask)
    mlm_logits = model.cls.predictions(hidden[-1])

os.makedirs(OUT, exist_ok=True)
torch.save(model.state_dict(), os.path.join(OUT, 'bert-tiny.pth'), _use_new_zipfile_serialization=True)
with open(os.path.join(OUT, 'bert-tiny.json'), 'w') as f:
    json.dump({
        'config': CONFIG,
        'input_ids': input_ids.tolist(),
        'token_type_ids': token_type_ids.tolist(),
        'attention_mask': attention_mask.tolist(),
        'hidden_states': [h.tolist() for h in hidden],
        'pooled': pooled.tolist(),
        'mlm_logits': mlm_logits.tolist(),
        'keys': list(model.state_dict().keys()),
    }, f)
print('wrote', len(model.state_dict()), 'tensors')
