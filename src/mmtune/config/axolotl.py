"""Every key of Axolotl's config schema that is not a ``Config`` field, sorted into two lists.

An Axolotl user's config must run as written. Keys that are fields of ``Config`` are acted on
with Axolotl's meaning. The others are either accepted with a warning that they have no effect
here (``WITHOUT_EFFECT``: trackers, speed kernels, settings of training methods mmtune does not
run), or refused (``REFUSED``) where running without them would silently train a different model
than the user asked for. A key left empty (``wandb_project:`` with no value, ``false``, ``[]``) is
never worth a word. tests/test_axolotl_keys.py checks that the lists and the fields together
cover Axolotl's schema (tests/data/axolotl_schema_keys.json, read from Axolotl's source).
"""

from __future__ import annotations

from typing import Any


def _group(reason: str, keys: str) -> dict[str, str]:
    return dict.fromkeys(keys.split(), reason)


_TRACKERS = "a tracker setting mmtune does not act on (it reports to TensorBoard, W&B and MLflow: report_to)"
_KERNELS = "a speed or memory kernel option; mmtune trains with the model's own modules (same results)"
_DISTRIBUTED = (
    "a distributed-training setting mmtune leaves to the launcher and the Trainer's defaults "
    "(deepspeed, fsdp, fsdp_config and fsdp_version act)"
)
_RL = "an option of preference / reinforcement-learning training (rl), which mmtune does not run"
_HUB = "a hub upload or revision setting; mmtune writes its outputs to output_dir only"
_PACKING = "a sample-packing setting; mmtune pads each batch instead (same loss, more padding)"
_EVAL_EXTRAS = "an evaluation extra (benchmarks, sampled generation) mmtune does not run (see eval_metrics)"
_RUNTIME = "a run-time housekeeping option with no effect on the trained model"
_PREPROCESS = "a dataset preparation option; mmtune always preprocesses and caches every dataset"
_MERGE = "a merge method; merge_lora and `mmtune merge` use peft's merge_and_unload"

WITHOUT_EFFECT: dict[str, str] = {
    **_group(
        _TRACKERS,
        "wandb_watch wandb_log_model wandb_run_id use_wandb hf_mlflow_log_artifacts use_mlflow "
        "comet_api_key comet_workspace comet_project_name comet_experiment_key comet_mode comet_online "
        "comet_experiment_config use_comet trackio_project_name trackio_run_name trackio_space_id use_trackio "
        "otel_metrics_host otel_metrics_port use_otel_metrics use_tensorboard gradio_max_new_tokens "
        "gradio_server_name gradio_server_port gradio_share gradio_temperature gradio_title ray_num_workers "
        "ray_run_name resources_per_worker use_ray",
    ),
    **_group(
        _KERNELS,
        "liger_rope liger_rms_norm liger_glu_activation liger_layer_norm liger_fused_linear_cross_entropy "
        "cut_cross_entropy chunked_cross_entropy chunked_cross_entropy_num_chunks flash_attn_cross_entropy "
        "flash_attn_rms_norm flash_attn_fuse_mlp flash_attn_d512 flash_optimum fused_attn_kernel sdpa_varlen "
        "sage_attention large_head_attention lora_mlp_kernel lora_qkv_kernel lora_o_kernel lora_embedding_kernel "
        "use_kernels use_sonicmoe experts_implementation llama4_linearized_experts gemma4_hybrid_attn_impl "
        "flex_attn_compile_kwargs tiled_mlp tiled_mlp_num_shards tiled_mlp_use_original_mlp torch_compile "
        "torch_compile_backend torch_compile_mode torch_compile_options scaling_softmax scaling_softmax_bias "
        "scaling_softmax_factor activation_offloading layer_offloading selective_checkpointing dynamic_checkpoint "
        "low_cpu_mem_usage embeddings_skip_upcast lora_on_cpu max_memory gpu_memory_limit "
        "experimental_skip_move_to_device torchdistx_path qlora_sharded_model_loading quantize_moe_experts "
        "plugins",
    ),
    **_group(
        _DISTRIBUTED,
        "fsdp_final_state_dict_type accelerator_config "
        "context_parallel_size sequence_parallel_degree dp_replicate_size dp_shard_size tensor_parallel_size "
        "world_size local_rank ddp ddp_timeout ddp_bucket_cap_mb ddp_broadcast_buffers ring_attn_func "
        "heads_k_stride deepcompile device device_map",
    ),
    **_group(
        _RL,
        "trl dpo_beta dpo_generate_during_eval dpo_label_smoothing dpo_loss_type dpo_loss_weights dpo_norm_loss "
        "dpo_padding_free dpo_use_liger_kernel dpo_use_logits_to_keep dpo_use_weighting kto_desirable_weight "
        "kto_undesirable_weight orpo_alpha simpo_gamma cpo_alpha rpo_alpha rl_beta center_rewards_coefficient "
        "precompute_ref_log_probs max_prompt_len vllm",
    ),
    **_group(_HUB, "hub_model_id hub_strategy hub_revision push_to_hub push_dataset_to_hub hf_use_auth_token"),
    **_group(
        _PACKING,
        "sample_packing_bin_size sample_packing_eff_est sample_packing_group_size "
        "sample_packing_mp_start_method sample_packing_sequentially eval_sample_packing multipack_real_batches "
        "pretrain_multipack_attn pretrain_multipack_buffer_size max_packed_sequence_len "
        "streaming_multipack_buffer_size pad_to_sequence_len pad_to_multiple_of batch_flattening",
    ),
    **_group(
        _EVAL_EXTRAS,
        "bench_dataset bench_split do_bench_eval do_causal_lm_eval eval_causal_lm_metrics eval_table_size "
        "generate_samples generation_do_sample generation_max_new_tokens "
        "generation_prompt_ratio generation_temperature generation_top_k generation_top_p num_generation_samples "
        "eval_sequence_len",
    ),
    **_group(
        _RUNTIME,
        "strict debug profiler_steps profiler_steps_start gc_steps gc_collect_steps torch_empty_cache_steps "
        "include_tokens_per_second include_tkps loss_watchdog_threshold loss_watchdog_patience "
        "auto_find_batch_size batch_size micro_batch_size_per_gpu save_safetensors "
        "total_num_tokens total_supervised_tokens axolotl_config_path tokenizer_save_jinja_files "
        "dataloader_pin_memory dataloader_prefetch_factor dataloader_drop_last trust_remote_code tokenizer_type "
        "model_type tokenizer_config tokenizer_use_fast tokenizer_legacy base_model_config is_llama_derived_model "
        "is_mistral_derived_model is_qwen_derived_model is_falcon_derived_model num_labels cls_model_config "
        "peft_autocast_adapter_dtype peft_ensure_weight_tying save_strategy eval_strategy evaluation_strategy "
        "auto_resume_from_checkpoints",
    ),
    **_group(
        _PREPROCESS,
        "is_preprocess preprocess_iterable num_dataset_shards_to_save dataset_keep_in_memory streaming "
        "shuffle_merged_datasets shuffle_before_merging_datasets dataset_exact_deduplication "
        "pretraining_sample_concatenation",
    ),
    **_group(_MERGE, "merge_method"),
    # Not in Axolotl's schema, which ignores it, but carried by Axolotl's own PaddleOCR-VL example.
    "full_finetune": "not an Axolotl setting (Axolotl ignores it); full fine-tuning is `adapter` left empty",
}

# Keys whose absence here would train a different model than the config asks for: refused when
# set (a non-empty value), with what to do instead.
REFUSED: dict[str, str] = {
    **_group(
        "mmtune trains supervised fine-tuning only; use TRL or Axolotl for preference, reward or RL training",
        "rl reward_model process_reward_model ebft",
    ),
    **_group(
        "mmtune does not run this training method; remove the key to train plain LoRA / full fine-tuning",
        "relora relora_cpu_offload relora_prune_method relora_prune_ratio jagged_restart_steps "
        "jagged_restart_warmup_steps jagged_restart_anneal_steps lisa_n_layers lisa_step_interval "
        "lisa_layers_attribute use_pose pose_max_context_len pose_num_chunks pose_split_on_token_ids qat "
        "use_eaft eaft_alpha eaft_k curriculum_sampling",
    ),
    **_group(
        "this optimizer setting is not passed on by mmtune; remove it or pick a transformers optimizer whose "
        "defaults you want",
        "optim_args optim_target_modules lr_groups embedding_lr embedding_lr_scale loraplus_lr_embedding "
        "adam_beta3 adam_epsilon2 dion_lr dion_momentum dion_rank_fraction dion_rank_multiple_of qgalore_rank "
        "qgalore_update_proj_gap qgalore_scale qgalore_proj_type qgalore_proj_quant qgalore_proj_bits "
        "qgalore_proj_group_size qgalore_queue_size qgalore_cos_threshold qgalore_gamma_proj lr_quadratic_warmup "
        "lr_div_factor cosine_constant_lr_ratio",
    ),
    **_group(
        "this changes the model's configuration or weights at load time, which mmtune does not do; bake the "
        "change into the checkpoint folder you give as base_model",
        "model_config model_kwargs rope_scaling model_revision reinit_weights shrink_embeddings "
        "mean_resizing_embeddings fix_untrained_tokens resize_token_embeddings_to_32x added_tokens_overrides "
        "tokens processor_kwargs peft peft_init_lora_weights peft_layer_replication peft_trainable_token_indices "
        "lora_alpha_pattern lora_rank_pattern lora_fan_in_fan_out",
    ),
    **_group(
        "quantized or low-precision training other than load_in_4bit / load_in_8bit is not supported; remove it",
        "gptq quantization model_quantization_config model_quantization_config_kwargs bnb_config_kwargs fp8 "
        "fp8_enable_fsdp_float8_all_gather use_onebitllms float32 fp32_norms fp32_norm_classes float16 bfloat16",
    ),
    **_group(
        "mmtune trains on every row of the datasets; take a subset with the dataset's split (e.g. 'train[:10%]')",
        "dataset_shard_num dataset_shard_idx",
    ),
    **_group(
        "mmtune reads conversations, not pretraining text; use a datasets entry",
        "pretraining_dataset min_sample_len role_boundaries",
    ),
    "trainer_cls": "a custom Trainer class is not loaded by mmtune; remove the key",
    "noisy_embedding_alpha": "spelled neftune_noise_alpha in mmtune (Axolotl's current name)",
}

# Accepted for compatibility; mmtune always preprocesses, so they cannot have an effect.
ALWAYS_PREPROCESSES_KEYS = frozenset({"skip_prepare_dataset", "remove_unused_columns"})

# Per dataset entry (Axolotl's SFTDataset keys that are not DatasetConfig fields).
DATASET_WITHOUT_EFFECT: dict[str, str] = {
    **_group(
        "a dataset sharding option; mmtune reads the whole split",
        "preprocess_shards shards shards_idx",
    ),
    "trust_remote_code": "datasets with loading scripts are not run by mmtune",
    "temperature": "an option of RL datasets",
    "logprobs_field": "an option of distillation datasets",
}
DATASET_REFUSED: dict[str, str] = {
    **_group(
        "a chat_template dataset of another shape (thinking fields, legacy message keys); mmtune reads "
        "messages with role and content: map other names with message_property_mappings",
        "field_thinking template_thinking_key split_thinking field_tools message_field_training "
        "message_field_training_detail",
    ),
    **_group(
        "a prompt-template (non chat) dataset type, which mmtune does not read; convert the rows to "
        "messages, or to prompt/completion columns",
        "conversation field field_human field_model input_format input_transform",
    ),
    **_group(
        "a per-dataset chat template is not supported; set chat_template / chat_template_jinja at the top level",
        "chat_template chat_template_jinja",
    ),
}

# Axolotl's legacy attention flags and the attn_implementation each one means.
LEGACY_ATTENTION: dict[str, str] = {
    "flash_attention": "flash_attention_2",
    "sdp_attention": "sdpa",
    "xformers_attention": "sdpa",
    "flex_attention": "flex_attention",
    "eager_attention": "eager",
    "s2_attention": "flash_attention_2",
}

# The older names of the ones above (kept for callers of the first release).
AXOLOTL_KEYS_WITHOUT_EFFECT: frozenset[str] = frozenset(WITHOUT_EFFECT)


def is_empty(value: Any) -> bool:
    """A key left empty in YAML: not worth a warning, and never a reason to refuse a config."""
    return value is None or value is False or value == "" or value == [] or value == {}
