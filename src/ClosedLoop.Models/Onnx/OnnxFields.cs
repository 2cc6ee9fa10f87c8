namespace ClosedLoop.Models.Onnx;

/// <summary>Field numbers and enum values from onnx/onnx.proto (ONNX 1.12+; the numbers never change between versions).</summary>
internal static class OnnxFields
{
    // ModelProto
    public const int ModelIrVersion = 1, ModelProducerName = 2, ModelProducerVersion = 3, ModelDomain = 4,
        ModelVersion = 5, ModelDocString = 6, ModelGraph = 7, ModelOpsetImport = 8, ModelMetadataProps = 14;
    // OperatorSetIdProto
    public const int OpsetDomain = 1, OpsetVersion = 2;
    // StringStringEntryProto
    public const int EntryKey = 1, EntryValue = 2;
    // GraphProto
    public const int GraphNode = 1, GraphName = 2, GraphInitializer = 5, GraphDocString = 10, GraphInput = 11,
        GraphOutput = 12, GraphValueInfo = 13;
    // NodeProto
    public const int NodeInput = 1, NodeOutput = 2, NodeName = 3, NodeOpType = 4, NodeAttribute = 5, NodeDocString = 6, NodeDomain = 7;
    // AttributeProto
    public const int AttrName = 1, AttrF = 2, AttrI = 3, AttrS = 4, AttrT = 5, AttrFloats = 7, AttrInts = 8, AttrType = 20;
    public const int AttrTypeFloat = 1, AttrTypeInt = 2, AttrTypeString = 3, AttrTypeFloats = 6, AttrTypeInts = 7;
    // ValueInfoProto
    public const int ValueName = 1, ValueTypeField = 2;
    // TypeProto / TypeProto.Tensor / TensorShapeProto / Dimension
    public const int TypeTensor = 1, TensorElemType = 1, TensorShape = 2, ShapeDim = 1, DimValue = 1, DimParam = 2;
    // TensorProto
    public const int TensorDims = 1, TensorDataType = 2, TensorFloatData = 4, TensorInt64Data = 7, TensorName = 8,
        TensorRawData = 9, TensorDataLocation = 14;
    // TensorProto.DataType
    public const int DataTypeFloat = 1, DataTypeInt64 = 7;
}
