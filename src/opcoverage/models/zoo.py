"""Model readiness, the built-in zoo: small but real vision, language and speech architectures from
``transformers`` configs with random weights (nothing is downloaded), plus two full-size configs on fake tensors.

Dropout probabilities are 0, so a training step is deterministic and can be compared with the float64 run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from opcoverage.errors import UsageError

NO_DROPOUT = {"hidden_dropout_prob": 0.0, "attention_probs_dropout_prob": 0.0}


@dataclass(frozen=True)
class ZooModel:
    name: str
    domain: str  # vision, language, speech
    description: str
    build: Callable[[], tuple[Any, dict]]  # -> (transformers model, keyword inputs)
    fake: bool = False  # full size: traced on fake tensors, never run

    def factory(self) -> tuple[Any, tuple]:
        """(module, positional inputs): the model behind an adapter that returns its main output tensor."""
        model, inputs = self.build()
        return MainOutput.wrap(model, list(inputs)), tuple(inputs.values())


class MainOutput:
    """``module(*tensors)`` -> the model's logits (or last hidden state): one tensor to compare, export and
    differentiate, whatever the model's output class."""

    @staticmethod
    def wrap(model, names: list[str]):
        import torch

        class Adapter(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.model = model

            def forward(self, *tensors):
                out = self.model(**dict(zip(names, tensors)), return_dict=True)
                for key in ("logits", "last_hidden_state"):
                    if getattr(out, key, None) is not None:
                        return getattr(out, key)
                return out.to_tuple()[0]

        return Adapter()


def _ids(length: int = 16, vocab: int = 100):
    import torch

    return torch.randint(0, vocab, (1, length))


def _with_mask(ids) -> dict:
    """Token ids with an all-ones attention mask, as a tokenizer gives them (without one, transformers looks for
    packed sequences with torch.diff, which the TorchScript ONNX exporter lacks)."""
    import torch

    return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}


def _pixels(size: int):
    import torch

    return torch.randn(1, 3, size, size)


def _t():
    import transformers

    return transformers


def _resnet():
    t = _t()
    cfg = t.ResNetConfig(embedding_size=16, hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 1, 1], layer_type="basic",
                         num_labels=10)
    return t.ResNetForImageClassification(cfg), {"pixel_values": _pixels(64)}


def _mobilenet_v2():
    t = _t()
    cfg = t.MobileNetV2Config(depth_multiplier=0.35, image_size=64, num_labels=10, classifier_dropout_prob=0.0)
    return t.MobileNetV2ForImageClassification(cfg), {"pixel_values": _pixels(64)}


def _vit():
    t = _t()
    cfg = t.ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, image_size=32,
                      patch_size=8, num_labels=10, **NO_DROPOUT)
    return t.ViTForImageClassification(cfg), {"pixel_values": _pixels(32)}


def _convnext():
    t = _t()
    cfg = t.ConvNextConfig(hidden_sizes=[8, 16, 32, 64], depths=[1, 1, 1, 1], num_labels=10)
    return t.ConvNextForImageClassification(cfg), {"pixel_values": _pixels(64)}


def _swin():
    t = _t()
    cfg = t.SwinConfig(image_size=32, patch_size=4, embed_dim=16, depths=[1, 1], num_heads=[1, 2], window_size=4,
                       num_labels=10, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, drop_path_rate=0.0)
    return t.SwinForImageClassification(cfg), {"pixel_values": _pixels(32)}


def _bert():
    t = _t()
    cfg = t.BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                       intermediate_size=64, max_position_embeddings=64, **NO_DROPOUT)
    return t.BertForMaskedLM(cfg), {"input_ids": _ids()}


def _distilbert():
    t = _t()
    cfg = t.DistilBertConfig(vocab_size=100, dim=32, n_layers=2, n_heads=2, hidden_dim=64, max_position_embeddings=64,
                             dropout=0.0, attention_dropout=0.0, seq_classif_dropout=0.0)
    return t.DistilBertForSequenceClassification(cfg), {"input_ids": _ids()}


def _gpt2():
    t = _t()
    cfg = t.GPT2Config(vocab_size=100, n_embd=32, n_layer=2, n_head=2, n_positions=64, resid_pdrop=0.0,
                       embd_pdrop=0.0, attn_pdrop=0.0, use_cache=False, bos_token_id=0, eos_token_id=0)
    return t.GPT2LMHeadModel(cfg), _with_mask(_ids())


def _llama(full: bool = False):
    t = _t()
    small = dict(vocab_size=100, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, max_position_embeddings=64)
    cfg = t.LlamaConfig(**({} if full else small), use_cache=False, attention_dropout=0.0)  # defaults: Llama-7B
    return t.LlamaForCausalLM(cfg), _with_mask(_ids(128 if full else 16, cfg.vocab_size))


def _mistral():
    t = _t()
    cfg = t.MistralConfig(vocab_size=100, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                          num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64, use_cache=False)
    return t.MistralForCausalLM(cfg), _with_mask(_ids())


def _t5():
    t = _t()
    cfg = t.T5Config(vocab_size=100, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4, dropout_rate=0.0,
                     decoder_start_token_id=0, use_cache=False)
    return t.T5ForConditionalGeneration(cfg), {"input_ids": _ids(), "decoder_input_ids": _ids(8)}


def _whisper():
    import torch

    t = _t()
    cfg = t.WhisperConfig(vocab_size=100, d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2,
                          decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, num_mel_bins=16,
                          max_source_positions=32, max_target_positions=32, decoder_start_token_id=0, pad_token_id=0,
                          bos_token_id=0, eos_token_id=0, dropout=0.0, use_cache=False)
    return (t.WhisperForConditionalGeneration(cfg),
            {"input_features": torch.randn(1, 16, 64), "decoder_input_ids": _ids(8),
             "decoder_attention_mask": torch.ones(1, 8, dtype=torch.long)})


def _wav2vec2():
    import torch

    t = _t()
    cfg = t.Wav2Vec2Config(vocab_size=32, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                           intermediate_size=64, conv_dim=(16, 16), conv_stride=(5, 2), conv_kernel=(10, 3),
                           num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2, hidden_dropout=0.0,
                           attention_dropout=0.0, activation_dropout=0.0, feat_proj_dropout=0.0, final_dropout=0.0,
                           layerdrop=0.0, mask_time_prob=0.0)
    return t.Wav2Vec2ForCTC(cfg), {"input_values": torch.randn(1, 1600)}


def _bert_large():
    t = _t()
    cfg = t.BertConfig(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096,
                       **NO_DROPOUT)
    return t.BertForMaskedLM(cfg), {"input_ids": _ids(128, cfg.vocab_size)}


ZOO: dict[str, ZooModel] = {m.name: m for m in (
    ZooModel("resnet", "vision", "ResNet (basic blocks, 4 stages), 64x64 image classification", _resnet),
    ZooModel("mobilenet_v2", "vision", "MobileNetV2 (depth 0.35), 64x64 image classification", _mobilenet_v2),
    ZooModel("vit", "vision", "ViT (2 layers, patch 8), 32x32 image classification", _vit),
    ZooModel("convnext", "vision", "ConvNeXt (4 stages), 64x64 image classification", _convnext),
    ZooModel("swin", "vision", "Swin Transformer (2 stages, window 4), 32x32 image classification", _swin),
    ZooModel("bert", "language", "BERT (2 layers) masked LM, 16 tokens", _bert),
    ZooModel("distilbert", "language", "DistilBERT (2 layers) sequence classification, 16 tokens", _distilbert),
    ZooModel("gpt2", "language", "GPT-2 (2 layers) causal LM, 16 tokens", _gpt2),
    ZooModel("llama", "language", "Llama (2 layers, grouped-query attention) causal LM, 16 tokens", _llama),
    ZooModel("mistral", "language", "Mistral (2 layers, sliding-window config) causal LM, 16 tokens", _mistral),
    ZooModel("t5", "language", "T5 (2+2 layers) encoder-decoder LM, 16 -> 8 tokens", _t5),
    ZooModel("whisper", "speech", "Whisper (2+2 layers) speech-to-text, 16 mel bins x 64 frames", _whisper),
    ZooModel("wav2vec2", "speech", "Wav2Vec2 (2 layers) CTC speech recognition, 0.1 s of 16 kHz audio", _wav2vec2),
    ZooModel("llama-7b", "language", "Llama-7B (transformers' LlamaConfig defaults), 128 tokens, fake tensors",
             lambda: _llama(full=True), fake=True),
    ZooModel("bert-large", "language", "BERT-large (24 layers, 1024 wide) masked LM, 128 tokens, fake tensors",
             _bert_large, fake=True),
)}


def get(name: str) -> ZooModel:
    try:
        return ZOO[name]
    except KeyError:
        raise UsageError(f"no zoo model {name!r}; the zoo has {', '.join(ZOO)} (or pass a dotted path to a factory, "
                         "or an .onnx file)") from None
