"""A transcription of the parts of Triton's ``model_config.proto`` that the mesh's configs use,
as a protobuf message built at run time, so a rendered config.pbtxt (plus the warm-up the init
container appends) can be parsed with ``google.protobuf.text_format`` the way Triton parses it.

Source: triton-inference-server/common ``protobuf/model_config.proto`` (messages ModelConfig,
ModelInput, ModelOutput, ModelDynamicBatching, ModelInstanceGroup, ModelWarmup; enum
DataType). Only field names, types and labels matter to the text parser; unused fields are
left out, so a config using one fails here first and the transcription grows with it.
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format
from google.protobuf.message import Message

_F = descriptor_pb2.FieldDescriptorProto
_DATA_TYPES = (
    *("TYPE_INVALID", "TYPE_BOOL", "TYPE_UINT8", "TYPE_UINT16", "TYPE_UINT32", "TYPE_UINT64"),
    *("TYPE_INT8", "TYPE_INT16", "TYPE_INT32", "TYPE_INT64", "TYPE_FP16", "TYPE_FP32"),
    *("TYPE_FP64", "TYPE_STRING", "TYPE_BF16"),
)


def _field(
    message: descriptor_pb2.DescriptorProto,
    name: str,
    number: int,
    kind: int,
    type_name: str = "",
    repeated: bool = False,
) -> None:
    field = message.field.add(name=name, number=number, type=kind)
    field.label = _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL
    if type_name:
        field.type_name = type_name


def _file() -> descriptor_pb2.FileDescriptorProto:
    file = descriptor_pb2.FileDescriptorProto(name="model_config_subset.proto", package="t")
    data_type = file.enum_type.add(name="DataType")
    for number, name in enumerate(_DATA_TYPES):
        data_type.value.add(name=name, number=number)

    tensor = file.message_type.add(name="ModelTensor")
    _field(tensor, "name", 1, _F.TYPE_STRING)
    _field(tensor, "data_type", 2, _F.TYPE_ENUM, ".t.DataType")
    _field(tensor, "dims", 4, _F.TYPE_INT64, repeated=True)

    batching = file.message_type.add(name="ModelDynamicBatching")
    _field(batching, "preferred_batch_size", 1, _F.TYPE_INT32, repeated=True)
    _field(batching, "max_queue_delay_microseconds", 2, _F.TYPE_UINT64)

    group = file.message_type.add(name="ModelInstanceGroup")
    kind = group.enum_type.add(name="Kind")
    for number, name in enumerate(("KIND_AUTO", "KIND_GPU", "KIND_CPU", "KIND_MODEL")):
        kind.value.add(name=name, number=number)
    _field(group, "name", 1, _F.TYPE_STRING)
    _field(group, "count", 2, _F.TYPE_INT32)
    _field(group, "gpus", 3, _F.TYPE_INT32, repeated=True)
    _field(group, "kind", 4, _F.TYPE_ENUM, ".t.ModelInstanceGroup.Kind")

    warmup = file.message_type.add(name="ModelWarmup")
    warm_input = warmup.nested_type.add(name="Input")
    _field(warm_input, "data_type", 1, _F.TYPE_ENUM, ".t.DataType")
    _field(warm_input, "dims", 2, _F.TYPE_INT64, repeated=True)
    _field(warm_input, "zero_data", 3, _F.TYPE_BOOL)
    _field(warm_input, "random_data", 4, _F.TYPE_BOOL)
    _field(warm_input, "input_data_file", 5, _F.TYPE_STRING)
    entry = warmup.nested_type.add(name="InputsEntry")
    entry.options.map_entry = True
    _field(entry, "key", 1, _F.TYPE_STRING)
    _field(entry, "value", 2, _F.TYPE_MESSAGE, ".t.ModelWarmup.Input")
    _field(warmup, "name", 1, _F.TYPE_STRING)
    _field(warmup, "batch_size", 2, _F.TYPE_UINT32)
    _field(warmup, "inputs", 3, _F.TYPE_MESSAGE, ".t.ModelWarmup.InputsEntry", repeated=True)
    _field(warmup, "count", 4, _F.TYPE_UINT32)

    config = file.message_type.add(name="ModelConfig")
    _field(config, "name", 1, _F.TYPE_STRING)
    _field(config, "platform", 2, _F.TYPE_STRING)
    _field(config, "max_batch_size", 4, _F.TYPE_INT32)
    _field(config, "input", 5, _F.TYPE_MESSAGE, ".t.ModelTensor", repeated=True)
    _field(config, "output", 6, _F.TYPE_MESSAGE, ".t.ModelTensor", repeated=True)
    _field(config, "instance_group", 7, _F.TYPE_MESSAGE, ".t.ModelInstanceGroup", repeated=True)
    _field(config, "dynamic_batching", 11, _F.TYPE_MESSAGE, ".t.ModelDynamicBatching")
    _field(config, "model_warmup", 16, _F.TYPE_MESSAGE, ".t.ModelWarmup", repeated=True)
    _field(config, "backend", 17, _F.TYPE_STRING)
    return file


def parse_model_config(text: str) -> Message:
    """Parses a config.pbtxt; raises ``text_format.ParseError`` naming line and column."""
    pool = descriptor_pool.DescriptorPool()
    pool.Add(_file())
    message_class = message_factory.GetMessageClass(pool.FindMessageTypeByName("t.ModelConfig"))
    message = message_class()
    text_format.Parse(text, message)
    return message
