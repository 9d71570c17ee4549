# Makes cmd/vise/testdata/off-contract.onnx: a valid ONNX model that does not
# fit the YOLOv8 contract (output [1,3]), so vise-infer refuses to run it.
import onnx
from onnx import helper, TensorProto
x = helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 32, 32])
y = helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 3])
node = helper.make_node("GlobalAveragePool", ["images"], ["pooled"])
flat = helper.make_node("Flatten", ["pooled"], ["output0"])
g = helper.make_graph([node, flat], "off-contract", [x], [y])
m = helper.make_model(g, producer_name="vise-test", opset_imports=[helper.make_opsetid("", 13)])
m.ir_version = 8
onnx.checker.check_model(m)
onnx.save(m, "/work/main/cmd/vise/testdata/off-contract.onnx")
