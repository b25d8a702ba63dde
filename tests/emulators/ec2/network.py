"""Network actions: DescribeVpcs, DescribeSubnets and the security group actions.

Security groups are checked as EC2 checks them: names unique per VPC, not
``default`` and not starting with ``sg-``; a rule needs a protocol, and ports
for tcp/udp (0..65535, from <= to); peers are valid CIDRs or existing groups;
a rule that already exists makes the whole call fail with
``InvalidPermission.Duplicate``; revoking a rule that does not exist is
``InvalidPermission.NotFound``; a group in use by a live instance or
referenced by another group's rule cannot be deleted (``DependencyViolation``),
nor can a VPC's default group (``CannotDelete``).
"""
import ipaddress

from . import filters
from .common import action, check_ids, dry_run, paginate, tag_list, tag_specifications
from .errors import Ec2Error
from .state import ACCOUNT_ID, LIVE_STATES, Rule

PROTOCOLS = {"tcp": "tcp", "6": "tcp", "udp": "udp", "17": "udp", "icmp": "icmp", "1": "icmp",
             "icmpv6": "icmpv6", "58": "icmpv6", "-1": "-1", "all": "-1"}


# -- VPCs and subnets ----------------------------------------------------------

@action("DescribeVpcs")
def describe_vpcs(api, p):
    world = api.world
    ids = p.get("VpcIds") or []
    check_ids(ids, "vpc", world.vpcs, "InvalidVpcID", "vpc ID")
    vpcs = [v for v in world.vpcs.values() if not ids or v.id in ids]
    fields = {"vpc-id": lambda v: [v.id], "is-default": lambda v: [str(v.is_default).lower()],
              "cidr": lambda v: [v.cidr], "cidr-block-association.cidr-block": lambda v: [v.cidr],
              "state": lambda v: ["available"], "owner-id": lambda v: [ACCOUNT_ID],
              "dhcp-options-id": lambda v: [v.dhcp_options_id]}
    vpcs = filters.apply(p.get("Filters"), vpcs, fields)
    page, token = paginate(vpcs, p, "vpcs", key=lambda v: v.id, with_ids="vpcIds" if ids else None)
    return {"NextToken": token, "Vpcs": [{
        "VpcId": v.id, "CidrBlock": v.cidr, "State": "available", "IsDefault": v.is_default,
        "OwnerId": ACCOUNT_ID, "DhcpOptionsId": v.dhcp_options_id, "InstanceTenancy": "default",
        "CidrBlockAssociationSet": [{"AssociationId": v.association_id, "CidrBlock": v.cidr,
                                     "CidrBlockState": {"State": "associated"}}],
        "Tags": tag_list(v.tags) if v.tags else None} for v in page]}


def _free_addresses(world, subnet):
    size = ipaddress.ip_network(subnet.cidr).num_addresses - 5
    used = sum(1 for i in world.visible_instances() if i.subnet_id == subnet.id and i.state != "terminated")
    return size - used


@action("DescribeSubnets")
def describe_subnets(api, p):
    world = api.world
    ids = p.get("SubnetIds") or []
    check_ids(ids, "subnet", world.subnets, "InvalidSubnetID", "subnet ID")
    subnets = [s for s in world.subnets.values() if not ids or s.id in ids]
    fields = {"subnet-id": lambda s: [s.id], "vpc-id": lambda s: [s.vpc_id],
              "availability-zone": lambda s: [s.zone], "availability-zone-id": lambda s: [s.zone_id],
              "default-for-az": lambda s: [str(s.default_for_az).lower()],
              "defaultForAz": lambda s: [str(s.default_for_az).lower()],
              "cidr-block": lambda s: [s.cidr], "cidr": lambda s: [s.cidr], "state": lambda s: ["available"],
              "map-public-ip-on-launch": lambda s: [str(s.map_public_ip).lower()],
              "owner-id": lambda s: [ACCOUNT_ID]}
    subnets = filters.apply(p.get("Filters"), subnets, fields)
    page, token = paginate(subnets, p, "subnets", key=lambda s: s.id, with_ids="subnetIds" if ids else None)
    return {"NextToken": token, "Subnets": [{
        "SubnetId": s.id, "VpcId": s.vpc_id, "CidrBlock": s.cidr, "AvailabilityZone": s.zone,
        "AvailabilityZoneId": s.zone_id, "AvailableIpAddressCount": _free_addresses(world, s),
        "DefaultForAz": s.default_for_az, "MapPublicIpOnLaunch": s.map_public_ip, "State": "available",
        "OwnerId": ACCOUNT_ID, "AssignIpv6AddressOnCreation": False, "Ipv6CidrBlockAssociationSet": [],
        "SubnetArn": f"arn:aws:ec2:{world.region}:{ACCOUNT_ID}:subnet/{s.id}",
        "Tags": tag_list(s.tags) if s.tags else None} for s in page]}


# -- security groups -----------------------------------------------------------

def _rule_text(rule):
    ports = "" if rule.from_port is None else f", from port: {rule.from_port}, to port: {rule.to_port}"
    proto = "ALL" if rule.protocol == "-1" else rule.protocol.upper()
    return f'peer: {rule.peer}, {proto}{ports}, ALLOW'


def _rules_from_permissions(world, permissions):
    """IpPermissions -> atomic Rules, checked."""
    rules = []
    for perm in permissions:
        raw = perm.get("IpProtocol")
        if raw is None:
            raise Ec2Error("MissingParameter", "The request must contain the parameter ipPermissions.ipProtocol")
        protocol = PROTOCOLS.get(str(raw).lower(), str(raw))
        if protocol not in PROTOCOLS.values() and not (protocol.isdigit() and 0 <= int(protocol) <= 255):
            raise Ec2Error("InvalidParameterValue", f"Invalid value '{raw}' for IP protocol. "
                           "Unknown protocol.")
        from_port, to_port = perm.get("FromPort"), perm.get("ToPort")
        if protocol in ("tcp", "udp"):
            if from_port is None or to_port is None:
                raise Ec2Error("InvalidParameterValue",
                               "Invalid value 'null' for portRange. Must specify both from and to ports with TCP/UDP.")
            if not (0 <= from_port <= 65535 and 0 <= to_port <= 65535) or from_port > to_port:
                raise Ec2Error("InvalidParameterValue",
                               f"Invalid value '{from_port}-{to_port}' for portRange.")
        elif protocol in ("icmp", "icmpv6"):
            from_port = -1 if from_port is None else from_port
            to_port = -1 if to_port is None else to_port
        else:
            from_port = to_port = None
        peers = []
        for r in perm.get("IpRanges") or []:
            cidr = r.get("CidrIp")
            try:
                ipaddress.IPv4Network(cidr, strict=False)
                if "/" not in (cidr or ""):
                    raise ValueError(cidr)
            except ValueError:
                raise Ec2Error("InvalidParameterValue", f"CIDR block {cidr} is malformed") from None
            peers.append(("cidr", cidr, r.get("Description")))
        for r in perm.get("Ipv6Ranges") or []:
            cidr = r.get("CidrIpv6")
            try:
                ipaddress.IPv6Network(cidr, strict=False)
            except ValueError:
                raise Ec2Error("InvalidParameterValue", f"CIDR block {cidr} is malformed") from None
            peers.append(("cidr6", cidr, r.get("Description")))
        for pair in perm.get("UserIdGroupPairs") or []:
            gid = pair.get("GroupId")
            if gid is None and pair.get("GroupName"):
                named = next((g for g in world.groups.values() if g.name == pair["GroupName"]
                              and g.vpc_id == world.default_vpc_id), None)
                if named is None:
                    raise Ec2Error("InvalidGroup.NotFound",
                                   f"The security group '{pair['GroupName']}' does not exist")
                gid = named.id
            if gid is None:
                raise Ec2Error("MissingParameter", "A user id group pair needs a GroupId or GroupName")
            check_ids([gid], "sg", world.groups, "InvalidGroup", "security group")
            peers.append(("group", gid, pair.get("Description")))
        for prefix in perm.get("PrefixListIds") or []:
            peers.append(("prefix", prefix.get("PrefixListId"), prefix.get("Description")))
        if not peers:
            raise Ec2Error("MissingParameter", "A rule needs an IpRanges, Ipv6Ranges, UserIdGroupPairs "
                           "or PrefixListIds source")
        for kind, peer, description in peers:
            rules.append(Rule(protocol, from_port, to_port, kind, peer, description))
    return rules


def _legacy_permissions(p):
    """The flat AuthorizeSecurityGroupIngress parameters (CidrIp, IpProtocol, ...) as IpPermissions."""
    if not any(k in p for k in ("IpProtocol", "CidrIp", "FromPort", "ToPort", "SourceSecurityGroupName")):
        return []
    perm = {"IpProtocol": p.get("IpProtocol", "-1"), "FromPort": p.get("FromPort"), "ToPort": p.get("ToPort")}
    if p.get("CidrIp"):
        perm["IpRanges"] = [{"CidrIp": p["CidrIp"]}]
    if p.get("SourceSecurityGroupName"):
        perm["UserIdGroupPairs"] = [{"GroupName": p["SourceSecurityGroupName"]}]
    return [perm]


def _find_group(api, p):
    world = api.world
    gid, name = p.get("GroupId"), p.get("GroupName")
    if gid:
        check_ids([gid], "sg", world.groups, "InvalidGroup", "security group")
        return world.groups[gid]
    if name:
        group = next((g for g in world.groups.values() if g.name == name and g.vpc_id == world.default_vpc_id), None)
        if group is None:
            raise Ec2Error("InvalidGroup.NotFound",
                           f"The security group '{name}' does not exist in default VPC '{world.default_vpc_id}'")
        return group
    raise Ec2Error("MissingParameter", "The request must contain the parameter groupName or groupId")


def _permissions_view(rules):
    """Atomic rules grouped into IpPermissions, as EC2 describes them."""
    grouped = {}
    for rule in rules:
        perm = grouped.setdefault((rule.protocol, rule.from_port, rule.to_port), {
            "IpProtocol": rule.protocol, "FromPort": rule.from_port, "ToPort": rule.to_port,
            "IpRanges": [], "Ipv6Ranges": [], "UserIdGroupPairs": [], "PrefixListIds": []})
        if rule.peer_kind == "cidr":
            perm["IpRanges"].append({"CidrIp": rule.peer, "Description": rule.description})
        elif rule.peer_kind == "cidr6":
            perm["Ipv6Ranges"].append({"CidrIpv6": rule.peer, "Description": rule.description})
        elif rule.peer_kind == "group":
            perm["UserIdGroupPairs"].append({"GroupId": rule.peer, "UserId": ACCOUNT_ID,
                                             "Description": rule.description})
        else:
            perm["PrefixListIds"].append({"PrefixListId": rule.peer, "Description": rule.description})
    return list(grouped.values())


def _rules_view(group, rules, egress):
    return [{"SecurityGroupRuleId": r.rule_id, "GroupId": group.id, "GroupOwnerId": ACCOUNT_ID,
             "IsEgress": egress, "IpProtocol": r.protocol, "FromPort": -1 if r.from_port is None else r.from_port,
             "ToPort": -1 if r.to_port is None else r.to_port,
             "CidrIpv4": r.peer if r.peer_kind == "cidr" else None,
             "CidrIpv6": r.peer if r.peer_kind == "cidr6" else None,
             "ReferencedGroupInfo": {"GroupId": r.peer, "UserId": ACCOUNT_ID} if r.peer_kind == "group" else None,
             "PrefixListId": r.peer if r.peer_kind == "prefix" else None,
             "Description": r.description} for r in rules]


@action("CreateSecurityGroup")
def create_security_group(api, p):
    world = api.world
    name, description = p["GroupName"], p["Description"]
    vpc_id = p.get("VpcId") or world.default_vpc_id
    check_ids([vpc_id], "vpc", world.vpcs, "InvalidVpcID", "vpc ID")
    if not name or len(name) > 255:
        raise Ec2Error("InvalidParameterValue", "Invalid value for group name: must be 1 to 255 characters")
    if name == "default":
        raise Ec2Error("InvalidGroup.Reserved", "The security group 'default' is reserved")
    if name.startswith("sg-"):
        raise Ec2Error("InvalidParameterValue", "Group names may not be in the format sg-*")
    if len(description) > 255:
        raise Ec2Error("InvalidParameterValue", "Invalid value for group description: at most 255 characters")
    if any(g.name == name and g.vpc_id == vpc_id for g in world.groups.values()):
        raise Ec2Error("InvalidGroup.Duplicate", f"The security group '{name}' already exists for VPC '{vpc_id}'")
    tags = tag_specifications(p.get("TagSpecifications"), ("security-group",))
    dry_run(p)
    group = world.create_group(name, description, vpc_id, tags.get("security-group"))
    return {"GroupId": group.id, "Tags": tag_list(group.tags) if group.tags else None,
            "SecurityGroupArn": f"arn:aws:ec2:{world.region}:{ACCOUNT_ID}:security-group/{group.id}"}


def _authorize(api, p, egress):
    world = api.world
    group = _find_group(api, p)
    permissions = (p.get("IpPermissions") or []) + _legacy_permissions(p)
    if not permissions:
        raise Ec2Error("MissingParameter", "The request must contain the parameter ipPermissions")
    rules = _rules_from_permissions(world, permissions)
    existing = {r.key() for r in (group.egress if egress else group.ingress)}
    seen = set()
    for rule in rules:
        if rule.key() in existing or rule.key() in seen:
            raise Ec2Error("InvalidPermission.Duplicate",
                           f'the specified rule "{_rule_text(rule)}" already exists')
        seen.add(rule.key())
    dry_run(p)
    (group.egress if egress else group.ingress).extend(rules)
    return {"Return": True, "SecurityGroupRules": _rules_view(group, rules, egress)}


def _revoke(api, p, egress):
    group = _find_group(api, p)
    permissions = (p.get("IpPermissions") or []) + _legacy_permissions(p)
    rule_ids = p.get("SecurityGroupRuleIds") or []
    target = group.egress if egress else group.ingress
    doomed = []
    for rule in _rules_from_permissions(api.world, permissions):
        match = next((r for r in target if r.key() == rule.key()), None)
        if match is None:
            raise Ec2Error("InvalidPermission.NotFound",
                           "The specified rule does not exist in this security group.")
        doomed.append(match)
    for rule_id in rule_ids:
        match = next((r for r in target if r.rule_id == rule_id), None)
        if match is None:
            raise Ec2Error("InvalidSecurityGroupRuleId.NotFound",
                           f"The security group rule ID '{rule_id}' does not exist")
        doomed.append(match)
    dry_run(p)
    for rule in doomed:
        if rule in target:
            target.remove(rule)
    return {"Return": True}


@action("AuthorizeSecurityGroupIngress")
def authorize_ingress(api, p):
    return _authorize(api, p, egress=False)


@action("AuthorizeSecurityGroupEgress")
def authorize_egress(api, p):
    return _authorize(api, p, egress=True)


@action("RevokeSecurityGroupIngress")
def revoke_ingress(api, p):
    return _revoke(api, p, egress=False)


@action("RevokeSecurityGroupEgress")
def revoke_egress(api, p):
    return _revoke(api, p, egress=True)


@action("DeleteSecurityGroup")
def delete_security_group(api, p):
    world = api.world
    group = _find_group(api, p)
    if group.name == "default":
        raise Ec2Error("CannotDelete", f"the specified group: \"{group.id}\" name: \"default\" cannot be deleted "
                       "by a user")
    if any(group.id in i.security_group_ids and i.state in LIVE_STATES + ("stopped",)
           for i in world.visible_instances()):
        raise Ec2Error("DependencyViolation", f"resource {group.id} has a dependent object")
    for other in world.groups.values():
        if other is not group and any(r.peer_kind == "group" and r.peer == group.id
                                      for r in other.ingress + other.egress):
            raise Ec2Error("DependencyViolation", f"resource {group.id} has a dependent object")
    dry_run(p)
    del world.groups[group.id]
    return {"Return": True, "GroupId": group.id}


@action("DescribeSecurityGroups")
def describe_security_groups(api, p):
    world = api.world
    ids = p.get("GroupIds") or []
    names = p.get("GroupNames") or []
    check_ids(ids, "sg", world.groups, "InvalidGroup", "security group")
    groups = list(world.groups.values())
    if ids:
        groups = [g for g in groups if g.id in ids]
    if names:
        in_default = {g.name: g for g in world.groups.values() if g.vpc_id == world.default_vpc_id}
        missing = [n for n in names if n not in in_default]
        if missing:
            raise Ec2Error("InvalidGroup.NotFound",
                           f"The security group '{missing[0]}' does not exist in default VPC '{world.default_vpc_id}'")
        groups = [g for g in groups if g.vpc_id == world.default_vpc_id and g.name in names]
    fields = {"group-name": lambda g: [g.name], "group-id": lambda g: [g.id], "vpc-id": lambda g: [g.vpc_id],
              "description": lambda g: [g.description], "owner-id": lambda g: [ACCOUNT_ID],
              "ip-permission.protocol": lambda g: [r.protocol for r in g.ingress],
              "ip-permission.from-port": lambda g: [r.from_port for r in g.ingress],
              "ip-permission.to-port": lambda g: [r.to_port for r in g.ingress],
              "ip-permission.cidr": lambda g: [r.peer for r in g.ingress if r.peer_kind == "cidr"],
              "ip-permission.group-id": lambda g: [r.peer for r in g.ingress if r.peer_kind == "group"]}
    groups = filters.apply(p.get("Filters"), groups, fields)
    page, token = paginate(groups, p, "security-groups", key=lambda g: g.id,
                           with_ids="groupIds" if ids or names else None)
    return {"NextToken": token, "SecurityGroups": [{
        "OwnerId": ACCOUNT_ID, "GroupName": g.name, "GroupId": g.id, "Description": g.description,
        "VpcId": g.vpc_id, "IpPermissions": _permissions_view(g.ingress),
        "IpPermissionsEgress": _permissions_view(g.egress),
        "SecurityGroupArn": f"arn:aws:ec2:{world.region}:{ACCOUNT_ID}:security-group/{g.id}",
        "Tags": tag_list(g.tags) if g.tags else None} for g in page]}
