"""Operation names of the common MSRPC interfaces, by opnum, from the public specifications'
opnum tables: MS-RPCE 2.2.1.2 / C706 (EPM), MS-LSAD 3.1.4 and MS-LSAT 3.1.4 (LSARPC), MS-SAMR
3.1.5 (SAMR), MS-NRPC 3.5.4 (NETLOGON), MS-DRSR 4.1 (DRSUAPI), MS-SRVS 3.1.4 (SRVSVC), MS-WKST
3.2.4 (WKSSVC).  Opnums the specs reserve ("OpnumNNNotUsedOnWire") are left out: such a call is
shown by its number alone."""

from __future__ import annotations


def _table(first: int, names: str) -> dict[int, str]:
    """Consecutive opnums from ``first``; ``-`` marks a number not used on the wire."""
    return {first + k: name for k, name in enumerate(names.split()) if name != "-"}


EPM = _table(0, "ept_insert ept_delete ept_lookup ept_map ept_lookup_handle_free ept_inq_object ept_mgmt_delete")

LSARPC = _table(0, """
    LsarClose - LsarEnumeratePrivileges LsarQuerySecurityObject LsarSetSecurityObject - LsarOpenPolicy
    LsarQueryInformationPolicy LsarSetInformationPolicy - LsarCreateAccount LsarEnumerateAccounts
    LsarCreateTrustedDomain LsarEnumerateTrustedDomains LsarLookupNames LsarLookupSids LsarCreateSecret
    LsarOpenAccount LsarEnumeratePrivilegesAccount LsarAddPrivilegesToAccount LsarRemovePrivilegesFromAccount
    - - LsarGetSystemAccessAccount LsarSetSystemAccessAccount LsarOpenTrustedDomain
    LsarQueryInfoTrustedDomain LsarSetInformationTrustedDomain LsarOpenSecret LsarSetSecret LsarQuerySecret
    LsarLookupPrivilegeValue LsarLookupPrivilegeName LsarLookupPrivilegeDisplayName LsarDeleteObject
    LsarEnumerateAccountsWithUserRight LsarEnumerateAccountRights LsarAddAccountRights LsarRemoveAccountRights
    LsarQueryTrustedDomainInfo LsarSetTrustedDomainInfo LsarDeleteTrustedDomain LsarStorePrivateData
    LsarRetrievePrivateData LsarOpenPolicy2 LsarGetUserName LsarQueryInformationPolicy2
    LsarSetInformationPolicy2 LsarQueryTrustedDomainInfoByName LsarSetTrustedDomainInfoByName
    LsarEnumerateTrustedDomainsEx LsarCreateTrustedDomainEx - LsarQueryDomainInformationPolicy
    LsarSetDomainInformationPolicy LsarOpenTrustedDomainByName - LsarLookupSids2 LsarLookupNames2
    LsarCreateTrustedDomainEx2""") | {68: "LsarLookupNames3", 73: "LsarQueryForestTrustInformation",
                                      74: "LsarSetForestTrustInformation", 76: "LsarLookupSids3",
                                      77: "LsarLookupNames4"}

SAMR = _table(0, """
    SamrConnect SamrCloseHandle SamrSetSecurityObject SamrQuerySecurityObject - SamrLookupDomainInSamServer
    SamrEnumerateDomainsInSamServer SamrOpenDomain SamrQueryInformationDomain SamrSetInformationDomain
    SamrCreateGroupInDomain SamrEnumerateGroupsInDomain SamrCreateUserInDomain SamrEnumerateUsersInDomain
    SamrCreateAliasInDomain SamrEnumerateAliasesInDomain SamrGetAliasMembership SamrLookupNamesInDomain
    SamrLookupIdsInDomain SamrOpenGroup SamrQueryInformationGroup SamrSetInformationGroup SamrAddMemberToGroup
    SamrDeleteGroup SamrRemoveMemberFromGroup SamrGetMembersInGroup SamrSetMemberAttributesOfGroup
    SamrOpenAlias SamrQueryInformationAlias SamrSetInformationAlias SamrDeleteAlias SamrAddMemberToAlias
    SamrRemoveMemberFromAlias SamrGetMembersInAlias SamrOpenUser SamrDeleteUser SamrQueryInformationUser
    SamrSetInformationUser SamrChangePasswordUser SamrGetGroupsForUser SamrQueryDisplayInformation
    SamrGetDisplayEnumerationIndex - - SamrGetUserDomainPasswordInformation
    SamrRemoveMemberFromForeignDomain SamrQueryInformationDomain2 SamrQueryInformationUser2
    SamrQueryDisplayInformation2 SamrGetDisplayEnumerationIndex2 SamrCreateUser2InDomain
    SamrQueryDisplayInformation3 SamrAddMultipleMembersToAlias SamrRemoveMultipleMembersFromAlias
    SamrOemChangePasswordUser2 SamrUnicodeChangePasswordUser2 SamrGetDomainPasswordInformation SamrConnect2
    SamrSetInformationUser2 - - - SamrConnect4 - SamrConnect5 SamrRidToSid SamrSetDSRMPassword
    SamrValidatePassword""") | {73: "SamrUnicodeChangePasswordUser4"}

NETLOGON = _table(0, """
    NetrLogonUasLogon NetrLogonUasLogoff NetrLogonSamLogon NetrLogonSamLogoff NetrServerReqChallenge
    NetrServerAuthenticate NetrServerPasswordSet NetrDatabaseDeltas NetrDatabaseSync NetrAccountDeltas
    NetrAccountSync NetrGetDCName NetrLogonControl NetrGetAnyDCName NetrLogonControl2 NetrServerAuthenticate2
    NetrDatabaseSync2 NetrDatabaseRedo NetrLogonControl2Ex NetrEnumerateTrustedDomains DsrGetDcName
    NetrLogonGetCapabilities NetrLogonSetServiceBits NetrLogonGetTrustRid NetrLogonComputeServerDigest
    NetrLogonComputeClientDigest NetrServerAuthenticate3 DsrGetDcNameEx DsrGetSiteName NetrLogonGetDomainInfo
    NetrServerPasswordSet2 NetrServerPasswordGet NetrLogonSendToSam DsrAddressToSiteNamesW DsrGetDcNameEx2
    NetrLogonGetTimeServiceParentDomain NetrEnumerateTrustedDomainsEx DsrAddressToSiteNamesExW
    DsrGetDcSiteCoverageW NetrLogonSamLogonEx DsrEnumerateDomainTrusts DsrDeregisterDnsHostRecords
    NetrServerTrustPasswordsGet DsrGetForestTrustInformation NetrGetForestTrustInformation
    NetrLogonSamLogonWithFlags NetrServerGetTrustInfo""")

DRSUAPI = _table(0, """
    IDL_DRSBind IDL_DRSUnbind IDL_DRSReplicaSync IDL_DRSGetNCChanges IDL_DRSUpdateRefs IDL_DRSReplicaAdd
    IDL_DRSReplicaDel IDL_DRSReplicaModify IDL_DRSVerifyNames IDL_DRSGetMemberships IDL_DRSInterDomainMove
    IDL_DRSGetNT4ChangeLog IDL_DRSCrackNames IDL_DRSWriteSPN IDL_DRSRemoveDsServer IDL_DRSRemoveDsDomain
    IDL_DRSDomainControllerInfo IDL_DRSAddEntry IDL_DRSExecuteKCC IDL_DRSGetReplInfo IDL_DRSAddSidHistory
    IDL_DRSGetMemberships2 IDL_DRSReplicaVerifyObjects IDL_DRSGetObjectExistence IDL_DRSQuerySitesByCost
    IDL_DRSInitDemotion IDL_DRSReplicaDemotion IDL_DRSFinishDemotion IDL_DRSAddCloneDC IDL_DRSWriteNgcKey
    IDL_DRSReadNgcKey""")

SRVSVC = _table(8, """
    NetrConnectionEnum NetrFileEnum NetrFileGetInfo NetrFileClose NetrSessionEnum NetrSessionDel NetrShareAdd
    NetrShareEnum NetrShareGetInfo NetrShareSetInfo NetrShareDel NetrShareDelSticky NetrShareCheck
    NetrServerGetInfo NetrServerSetInfo NetrServerDiskEnum NetrServerStatisticsGet NetrServerTransportAdd
    NetrServerTransportEnum NetrServerTransportDel NetrRemoteTOD - NetprPathType NetprPathCanonicalize
    NetprPathCompare NetprNameValidate NetprNameCanonicalize NetprNameCompare NetrShareEnumSticky
    NetrShareDelStart NetrShareDelCommit NetrpGetFileSecurity NetrpSetFileSecurity NetrServerTransportAddEx
    - NetrDfsGetVersion NetrDfsCreateLocalPartition NetrDfsDeleteLocalPartition NetrDfsSetLocalVolumeState -
    NetrDfsCreateExitPoint NetrDfsDeleteExitPoint NetrDfsModifyPrefix NetrDfsFixLocalVolume
    NetrDfsManagerReportSiteInfo NetrServerTransportDelEx NetrServerAliasAdd NetrServerAliasEnum
    NetrServerAliasDel NetrShareDelEx""")

WKSSVC = _table(0, """
    NetrWkstaGetInfo NetrWkstaSetInfo NetrWkstaUserEnum - - NetrWkstaTransportEnum NetrWkstaTransportAdd
    NetrWkstaTransportDel NetrUseAdd NetrUseGetInfo NetrUseDel NetrUseEnum - NetrWorkstationStatisticsGet
    - - - - - - NetrGetJoinInformation - NetrJoinDomain2 NetrUnjoinDomain2 NetrRenameMachineInDomain2
    NetrValidateName2 NetrGetJoinableOUs2 NetrAddAlternateComputerName NetrRemoveAlternateComputerName
    NetrSetPrimaryComputerName NetrEnumerateComputerNames""")

#: interface name (as ``dcerpc.INTERFACES`` gives it) → opnum → operation name
OPERATIONS: dict[str, dict[int, str]] = {"EPM": EPM, "LSARPC": LSARPC, "SAMR": SAMR, "NETLOGON": NETLOGON,
                                         "DRSUAPI": DRSUAPI, "SRVSVC": SRVSVC, "WKSSVC": WKSSVC}


def operation(interface: str, opnum: int) -> str:
    """``SAMR SamrConnect5 (64)``; ``SAMR (99)`` for an opnum the table lacks."""
    name = OPERATIONS.get(interface, {}).get(opnum)
    return f"{interface} {name} ({opnum})" if name else f"{interface} ({opnum})"
