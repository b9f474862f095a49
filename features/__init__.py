"""Feature computation: raw user events in, online features out (deployed as Lambda code).

Standard library and boto3 only: nothing here may import pulumi, stacks or components.
"""
