"""The Azure Resource Manager envelope: ids, api-versions, errors, paging and LRO headers."""
