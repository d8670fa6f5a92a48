"""StackMix ResNet34-BiLSTM-CTC handwriting recognizer for transformers.

Importing this package registers the model with the Auto classes (AutoConfig,
AutoModel, AutoModelForCTC, AutoImageProcessor, AutoProcessor) and the
"handwriting-recognition" pipeline, and marks the classes so that `save_pretrained`
copies their code next to the weights for `trust_remote_code=True` loading.
"""

from transformers import (
    AutoConfig,
    AutoImageProcessor,
    AutoModel,
    AutoModelForCTC,
    AutoProcessor,
)

from .configuration_stackmix_htr import PRESETS, StackMixHTRConfig
from .image_processing_stackmix_htr import StackMixHTRImageProcessor
from .modeling_stackmix_htr import StackMixHTRForCTC, StackMixHTROutput, StackMixHTRPreTrainedModel
from .pipeline_stackmix_htr import HandwritingRecognitionPipeline, register_pipeline
from .processing_stackmix_htr import OutOfVocabularyError, StackMixHTRProcessor
from .text_rules import TEXT_RULES_NAMES, get_text_rules

AutoConfig.register(StackMixHTRConfig.model_type, StackMixHTRConfig, exist_ok=True)
AutoModel.register(StackMixHTRConfig, StackMixHTRForCTC, exist_ok=True)
AutoModelForCTC.register(StackMixHTRConfig, StackMixHTRForCTC, exist_ok=True)
AutoImageProcessor.register(StackMixHTRConfig, slow_image_processor_class=StackMixHTRImageProcessor, exist_ok=True)
AutoProcessor.register(StackMixHTRConfig, StackMixHTRProcessor, exist_ok=True)
register_pipeline()
StackMixHTRConfig.registered_pipeline_serves_checkpoints = True

StackMixHTRConfig.register_for_auto_class()
StackMixHTRForCTC.register_for_auto_class("AutoModelForCTC")
StackMixHTRImageProcessor.register_for_auto_class("AutoImageProcessor")
StackMixHTRProcessor.register_for_auto_class("AutoProcessor")

__all__ = [
    "PRESETS",
    "TEXT_RULES_NAMES",
    "HandwritingRecognitionPipeline",
    "OutOfVocabularyError",
    "StackMixHTRConfig",
    "StackMixHTRForCTC",
    "StackMixHTRImageProcessor",
    "StackMixHTROutput",
    "StackMixHTRPreTrainedModel",
    "StackMixHTRProcessor",
    "get_text_rules",
]
