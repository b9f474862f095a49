set -euf
# Rendered by components/serving_plan.py (sync_script); do not edit.
models_root="${MODEL_ROOT:-/models}"
work="$(mktemp -d)"
budget=195035136
used=0
log() { printf 'model-sync: %s\n' "$*" >&2; }
refuse() { log "$*; Triton does not start"; exit 1; }

# listed BUCKET KEY: whether the object exists. Only a listing that answers without KEY means
# it does not; a listing that fails (no access, no network) stops the script, so an error is
# never taken for a missing pointer.
listed() {
  keys=$(aws s3api list-objects-v2 --bucket "$1" --prefix "$2" --query 'Contents[].Key' \
    --output text </dev/null) || refuse "cannot list s3://$1/$2"
  for listed_key in $keys; do
    if [ "$listed_key" = "$2" ]; then return 0; fi
  done
  return 1
}

# fetch BUCKET KEY FILE
fetch() {
  mkdir -p "${3%/*}"
  aws s3 cp "s3://$1/$2" "$3" --only-show-errors </dev/null || refuse "cannot copy s3://$1/$2"
}

# field NAME: the scalar NAME of the one-line JSON object on stdin, without its quotes (up
# to the first quote, comma or brace: a value holding one reads short and fails a check).
field() {
  sed -n "s/.*\"$1\":\"\{0,1\}\([^\",}]*\).*/\1/p"
}

# sync_model BUCKET MODEL CATALOG_VERSION MODEL_FILE: copy the version the region's pointer
# names (the catalog's while there is no pointer) into $models_root/MODEL and check every file
# against the version's manifest.json.
sync_model() {
  bucket=$1 model=$2
  pointer="pointers/$model/active.json"
  if listed "$bucket" "$pointer"; then
    fetch "$bucket" "$pointer" "$work/$model.pointer.json"
    doc=$(tr -d ' \t\r\n' <"$work/$model.pointer.json")
    if [ "$(printf '%s' "$doc" | field model)" != "$model" ]; then
      refuse "s3://$bucket/$pointer is not the pointer of $model"
    fi
    version=$(printf '%s' "$doc" | field active)
    origin="s3://$bucket/$pointer"
  else
    version=$3
    origin="the model catalog (no s3://$bucket/$pointer yet: nothing promoted here)"
  fi
  case "$version" in
    '' | *[!0-9]* | 0*) refuse "$model: not a version number from $origin: '$version'" ;;
  esac
  log "$model: serving version $version from $origin"
  prefix="artifacts/$model/$version/"
  if ! listed "$bucket" "${prefix}manifest.json"; then
    refuse "$model version $version has no s3://$bucket/${prefix}manifest.json: it is" \
      "incomplete in this region (publish writes the manifest last, replication may" \
      "still be copying) or was never published"
  fi
  fetch "$bucket" "${prefix}manifest.json" "$work/$model.manifest.json"
  manifest=$(tr -d ' \t\r\n' <"$work/$model.manifest.json")
  header=$(printf '%s' "$manifest" | sed 's/"files":\[[^]]*\]//')
  if [ "$(printf '%s' "$header" | field model)" != "$model" ] \
    || [ "$(printf '%s' "$header" | field version)" != "$version" ]; then
    refuse "s3://$bucket/${prefix}manifest.json is not the manifest of $model version $version"
  fi
  printf '%s\n' "$manifest" | sed 's/.*"files":\[//; s/\].*//' | tr '}' '\n' >"$work/$model.files"
  target="$models_root/$model"
  rm -rf "$target"
  mkdir -p "$target"
  count=0
  listing="the manifest of $model version $version"
  while IFS= read -r entry; do
    entry=${entry#,}
    if [ -z "$entry" ]; then continue; fi
    path=$(printf '%s' "$entry" | field path)
    key=$(printf '%s' "$entry" | field key)
    size=$(printf '%s' "$entry" | field size)
    sha=$(printf '%s' "$entry" | field sha256)
    case "$path" in
      '' | /* | *..* | *[!A-Za-z0-9._/-]*) refuse "$listing lists an unsafe path: '$path'" ;;
    esac
    case "$size" in
      '' | *[!0-9]*) refuse "$listing gives no size for $path" ;;
    esac
    case "$sha" in
      *[!0-9a-f]*) refuse "$listing gives no sha256 for $path" ;;
    esac
    if [ "${#sha}" -ne 64 ]; then
      refuse "$listing gives no sha256 for $path"
    fi
    if [ "$key" != "$prefix$path" ]; then
      refuse "$listing lists $path at $key, expected $prefix$path"
    fi
    used=$((used + size))
    if [ "$used" -gt "$budget" ]; then
      refuse "$model version $version needs more than the models volume holds" \
        "($budget bytes): list the version in model_artifacts/models.yaml and deploy," \
        "so the volume is sized for it"
    fi
    fetch "$bucket" "$key" "$target/$path"
    actual=$(wc -c <"$target/$path")
    if [ "$((actual))" -ne "$size" ]; then
      refuse "$target/$path has $((actual)) bytes, manifest.json says $size"
    fi
    actual=$(sha256sum <"$target/$path")
    if [ "${actual%% *}" != "$sha" ]; then
      refuse "$target/$path has sha256 ${actual%% *}, manifest.json says $sha"
    fi
    count=$((count + 1))
  done <"$work/$model.files"
  if [ ! -f "$target/config.pbtxt" ] || [ ! -f "$target/$version/$4" ]; then
    refuse "$listing lacks config.pbtxt or $version/$4: not a Triton model directory"
  fi
  log "$model: version $version verified: $count files match its manifest.json"
}
sync_model inference-mesh-prod-eu-west-1-models resnet50 1 model.onnx
cat >> "$models_root/resnet50/config.pbtxt" <<'WARMUP'
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
