"""Networks built here rather than trained: ResNet20 for CIFAR-10's shapes with seeded random
weights (the shapes decide the cycles; no dataset is needed or downloaded)."""

import numpy as np

__all__ = ["resnet20_onnx"]


def resnet20_onnx(seed=0, num_classes=10):
    """ResNet20 (He et al., CIFAR variant) as an ONNX ``ModelProto``: a 3x3 stem with 16 channels,
    three stages of three basic blocks (16, 32, 64 channels, stride 2 at the first block of stages
    2 and 3 with a 1x1 projection shortcut), BatchNormalization after every convolution, global
    average pooling and a linear classifier; input ``N x 3 x 32 x 32``.  Weights: He-normal from
    ``numpy.random.default_rng(seed)``; BatchNorm statistics that keep activations near unit
    variance."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    inits, nodes = [], []

    def const(name, a):
        inits.append(numpy_helper.from_array(np.asarray(a, np.float32), name))
        return name

    def conv_bn(name, x, c_in, c_out, k, stride):
        w = rng.normal(size=(c_out, c_in, k, k)) * np.sqrt(2.0 / (c_in * k * k))
        pad = (k - 1) // 2
        nodes.append(
            helper.make_node(
                "Conv",
                [x, const(name + ".w", w)],
                [name + ".c"],
                name=name,
                kernel_shape=[k, k],
                strides=[stride, stride],
                pads=[pad] * 4,
            )
        )
        nodes.append(
            helper.make_node(
                "BatchNormalization",
                [
                    name + ".c",
                    const(name + ".g", rng.uniform(0.5, 1.0, c_out)),
                    const(name + ".b", rng.normal(0, 0.1, c_out)),
                    const(name + ".mu", rng.normal(0, 0.1, c_out)),
                    const(name + ".var", rng.uniform(0.5, 2.0, c_out)),
                ],
                [name + ".bn"],
                name=name + ".bn",
            )
        )
        return name + ".bn"

    def relu(x, name):
        nodes.append(helper.make_node("Relu", [x], [name], name=name))
        return name

    h = relu(conv_bn("conv1", "input", 3, 16, 3, 1), "conv1.relu")
    c_in = 16
    for s, c in enumerate((16, 32, 64), start=1):
        for b in range(3):
            stride = 2 if (s > 1 and b == 0) else 1
            n = f"s{s}.b{b}"
            y = relu(conv_bn(n + ".conv1", h, c_in, c, 3, stride), n + ".relu1")
            y = conv_bn(n + ".conv2", y, c, c, 3, 1)
            short = conv_bn(n + ".down", h, c_in, c, 1, stride) if (stride != 1 or c_in != c) else h
            nodes.append(helper.make_node("Add", [y, short], [n + ".add"], name=n + ".add"))
            h = relu(n + ".add", n + ".relu2")
            c_in = c
    nodes.append(helper.make_node("GlobalAveragePool", [h], ["gap"], name="gap"))
    nodes.append(helper.make_node("Flatten", ["gap"], ["flat"], name="flatten"))
    fc_w = rng.normal(size=(num_classes, 64)) / 8.0
    nodes.append(
        helper.make_node(
            "Gemm",
            ["flat", const("fc.w", fc_w), const("fc.b", np.zeros(num_classes))],
            ["logits"],
            name="fc",
            transB=1,
        )
    )
    graph = helper.make_graph(
        nodes,
        "resnet20_cifar_shapes",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, 32, 32])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", num_classes])],
        inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="pqaccel.net.zoo"
    )
    model.ir_version = 8
    return model
