set -eu
aws s3 cp "s3://inference-mesh-prod-eu-west-1-models/artifacts/resnet50/1/" "/models/resnet50/" --recursive --only-show-errors --exclude "manifest.json"
echo "b71342b11515dee1359559ef0ca00ac703ba497a7c0b57234d747ffde89eab3f  /models/resnet50/1/model.onnx" | sha256sum -c --quiet -
cat >> /models/resnet50/config.pbtxt <<'WARMUP'
model_warmup [
  {
    name: "resnet50-batch-1"
    batch_size: 1
    inputs {
      key: "input"
      value {
        data_type: TYPE_FP32
        dims: [ 3, 224, 224 ]
        random_data: true
      }
    }
  },
  {
    name: "resnet50-batch-8"
    batch_size: 8
    inputs {
      key: "input"
      value {
        data_type: TYPE_FP32
        dims: [ 3, 224, 224 ]
        random_data: true
      }
    }
  },
  {
    name: "resnet50-batch-16"
    batch_size: 16
    inputs {
      key: "input"
      value {
        data_type: TYPE_FP32
        dims: [ 3, 224, 224 ]
        random_data: true
      }
    }
  },
  {
    name: "resnet50-batch-32"
    batch_size: 32
    inputs {
      key: "input"
      value {
        data_type: TYPE_FP32
        dims: [ 3, 224, 224 ]
        random_data: true
      }
    }
  }
]
WARMUP
