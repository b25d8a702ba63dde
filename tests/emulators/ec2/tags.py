"""CreateTags and DeleteTags on instances, volumes, groups, VPCs, subnets,
key pairs and images.

Each resource id must be well-formed and exist, with the NotFound code of its
kind (``InvalidInstanceID.NotFound``, ``InvalidGroup.NotFound``, ...), or the
whole call fails and nothing is tagged. Tag keys are checked as EC2 checks
them (not empty, at most 128 characters, no ``aws:`` prefix; values at most
256; at most 50 tags per resource, ``TagLimitExceeded``). DeleteTags with a
value removes the tag only when the value matches; without one, whatever it is.
"""
from .common import MAX_TAGS, action, check_ids, check_tag, dry_run
from .errors import Ec2Error

# id prefix -> (collection getter, error code stem, not-found noun)
KINDS = {
    "i": (lambda w: {i.id: i for i in w.visible_instances()}, "InvalidInstanceID", "instance ID"),
    "vol": (lambda w: w.volumes, "InvalidVolume", "volume"),
    "sg": (lambda w: w.groups, "InvalidGroup", "security group"),
    "vpc": (lambda w: w.vpcs, "InvalidVpcID", "vpc ID"),
    "subnet": (lambda w: w.subnets, "InvalidSubnetID", "subnet ID"),
    "key": (lambda w: {k.id: k for k in w.key_pairs.values()}, "InvalidKeyPair", "key pair"),
    "ami": (lambda w: w.images, "InvalidAMIID", "image id"),
}


def _resources(api, ids):
    found = []
    for resource_id in ids:
        prefix = resource_id.rsplit("-", 1)[0] if "-" in resource_id else ""
        if prefix not in KINDS:
            raise Ec2Error("InvalidID", f"The ID '{resource_id}' is not valid")
        collection, family, noun = KINDS[prefix]
        existing = collection(api.world)
        check_ids([resource_id], prefix, existing, family, noun)
        found.append(existing[resource_id])
    return found


@action("CreateTags")
def create_tags(api, p):
    resources = _resources(api, p["Resources"])
    tags = {}
    for tag in p["Tags"]:
        check_tag(tag.get("Key"), tag.get("Value", ""))
        tags[tag["Key"]] = tag.get("Value", "")
    for resource in resources:
        if len({**resource.tags, **tags}) > MAX_TAGS:
            raise Ec2Error("TagLimitExceeded", f"The maximum number of tags per resource is {MAX_TAGS}")
    dry_run(p)
    for resource in resources:
        resource.tags.update(tags)
    return {}


@action("DeleteTags")
def delete_tags(api, p):
    resources = _resources(api, p["Resources"])
    dry_run(p)
    for resource in resources:
        if not p.get("Tags"):
            resource.tags.clear()
            continue
        for tag in p["Tags"]:
            key = tag.get("Key")
            if key in resource.tags and ("Value" not in tag or resource.tags[key] == tag["Value"]):
                del resource.tags[key]
    return {}
