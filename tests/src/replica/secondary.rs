//! The pages behind the result page's buttons (`sunat-secondary.md`):
//! representantes legales (`getRepLeg`), cantidad de trabajadores
//! (`getCantTrab`), establecimientos anexos (`getLocAnex`) and deuda
//! coactiva (`getInfoDC`), for the replica's taxpayers. Their structure
//! follows the two pages captured from the real site (classes, headings,
//! padded cells, `dd/mm/yyyy` dates, `NE`), the others what open-source
//! parsers select; the people and figures are fictitious. Each has its
//! empty state, and a taxpayer without annexes has no annexes page (SUNAT's
//! error page instead), as on the real site, where it has no button either.

/// A legal representative, as the page prints the row.
pub struct Representante {
    pub documento: &'static str,
    pub numero: &'static str,
    pub nombre: &'static str,
    pub cargo: &'static str,
    /// `dd/mm/yyyy`.
    pub desde: &'static str,
}

/// One period of the workers' page: `YYYY-MM` and three counts, `NE` when
/// not declared.
pub struct Periodo(pub &'static str, pub &'static str, pub &'static str, pub &'static str);

/// An establishment: código, tipo (`SU.SUCURSAL`), dirección, actividad.
pub struct Anexo(pub &'static str, pub &'static str, pub &'static str, pub &'static str);

/// A debt in coercive collection: monto (`15,482.30`), período
/// (`2023-08`), inicio de cobranza (`dd/mm/yyyy`), entidad.
pub struct Deuda(pub &'static str, pub &'static str, pub &'static str, pub &'static str);

/// What the replica knows of a taxpayer beyond its result page.
#[derive(Default)]
pub struct Secondary {
    pub representantes: &'static [Representante],
    pub periodos: &'static [Periodo],
    pub anexos: &'static [Anexo],
    pub deudas: &'static [Deuda],
}

/// A taxpayer with more annexes than one page shows: SUNAT's list is
/// paged ([`ANNEXES_PER_PAGE`] a page).
const MANY_ANNEXES: &[Anexo] = &[
    Anexo(
        "0001",
        "LO.LOCAL COMERCIAL",
        "JR. ANEXO NRO. 101 LIMA - LIMA - LIMA",
        "-",
    ),
    Anexo(
        "0002",
        "LO.LOCAL COMERCIAL",
        "JR. ANEXO NRO. 102 LIMA - LIMA - LIMA",
        "-",
    ),
    Anexo(
        "0003",
        "LO.LOCAL COMERCIAL",
        "JR. ANEXO NRO. 103 LIMA - LIMA - LIMA",
        "-",
    ),
    Anexo(
        "0004",
        "LO.LOCAL COMERCIAL",
        "JR. ANEXO NRO. 104 LIMA - LIMA - LIMA",
        "-",
    ),
    Anexo(
        "0005",
        "LO.LOCAL COMERCIAL",
        "JR. ANEXO NRO. 105 LIMA - LIMA - LIMA",
        "-",
    ),
    Anexo(
        "0006",
        "LO.LOCAL COMERCIAL",
        "JR. ANEXO NRO. 106 LIMA - LIMA - LIMA",
        "-",
    ),
    Anexo(
        "0007",
        "LO.LOCAL COMERCIAL",
        "JR. ANEXO NRO. 107 LIMA - LIMA - LIMA",
        "-",
    ),
    Anexo(
        "0008",
        "LO.LOCAL COMERCIAL",
        "JR. ANEXO NRO. 108 LIMA - LIMA - LIMA",
        "-",
    ),
    Anexo(
        "0009",
        "LO.LOCAL COMERCIAL",
        "JR. ANEXO NRO. 109 LIMA - LIMA - LIMA",
        "-",
    ),
    Anexo(
        "0010",
        "LO.LOCAL COMERCIAL",
        "JR. ANEXO NRO. 110 LIMA - LIMA - LIMA",
        "-",
    ),
    Anexo(
        "0011",
        "LO.LOCAL COMERCIAL",
        "JR. ANEXO NRO. 111 LIMA - LIMA - LIMA",
        "-",
    ),
    Anexo(
        "0012",
        "LO.LOCAL COMERCIAL",
        "JR. ANEXO NRO. 112 LIMA - LIMA - LIMA",
        "-",
    ),
    Anexo(
        "0013",
        "LO.LOCAL COMERCIAL",
        "JR. ANEXO NRO. 113 LIMA - LIMA - LIMA",
        "-",
    ),
    Anexo(
        "0014",
        "LO.LOCAL COMERCIAL",
        "JR. ANEXO NRO. 114 LIMA - LIMA - LIMA",
        "-",
    ),
    Anexo(
        "0015",
        "LO.LOCAL COMERCIAL",
        "JR. ANEXO NRO. 115 LIMA - LIMA - LIMA",
        "-",
    ),
    Anexo(
        "0016",
        "LO.LOCAL COMERCIAL",
        "JR. ANEXO NRO. 116 LIMA - LIMA - LIMA",
        "-",
    ),
    Anexo(
        "0017",
        "LO.LOCAL COMERCIAL",
        "JR. ANEXO NRO. 117 LIMA - LIMA - LIMA",
        "-",
    ),
    Anexo(
        "0018",
        "LO.LOCAL COMERCIAL",
        "JR. ANEXO NRO. 118 LIMA - LIMA - LIMA",
        "-",
    ),
    Anexo(
        "0019",
        "LO.LOCAL COMERCIAL",
        "JR. ANEXO NRO. 119 LIMA - LIMA - LIMA",
        "-",
    ),
    Anexo(
        "0020",
        "LO.LOCAL COMERCIAL",
        "JR. ANEXO NRO. 120 LIMA - LIMA - LIMA",
        "-",
    ),
    Anexo(
        "0021",
        "LO.LOCAL COMERCIAL",
        "JR. ANEXO NRO. 121 LIMA - LIMA - LIMA",
        "-",
    ),
    Anexo(
        "0022",
        "LO.LOCAL COMERCIAL",
        "JR. ANEXO NRO. 122 LIMA - LIMA - LIMA",
        "-",
    ),
    Anexo(
        "0023",
        "LO.LOCAL COMERCIAL",
        "JR. ANEXO NRO. 123 LIMA - LIMA - LIMA",
        "-",
    ),
];

/// Annexes on one page of the list.
pub const ANNEXES_PER_PAGE: usize = 10;

/// The secondary data of `ruc` (empty for a taxpayer without any).
pub fn of(ruc: &str) -> Secondary {
    match ruc {
        "20440374248" => Secondary {
            representantes: &[
                Representante {
                    documento: "DNI",
                    numero: "40112233",
                    nombre: "SALAZAR RIOS MARIO ANDRES",
                    cargo: "GOBERNADOR REGIONAL",
                    desde: "02/01/2023",
                },
                Representante {
                    documento: "DNI",
                    numero: "18123456",
                    nombre: "VEGA CHAVEZ ANA LUCIA",
                    cargo: "GERENTE GENERAL",
                    desde: "15/03/2023",
                },
            ],
            periodos: &[
                Periodo("2025-07", "1245", "12", "310"),
                Periodo("2025-08", "1250", "12", "298"),
                Periodo("2025-09", "1248", "11", "NE"),
            ],
            anexos: &[
                Anexo(
                    "0001",
                    "SU.SUCURSAL",
                    "AV. ESPAÑA NRO. 1800 LA LIBERTAD - TRUJILLO - TRUJILLO",
                    "8411 - ACTIVIDADES DE LA ADMINISTRACIÓN PÚBLICA EN GENERAL",
                ),
                Anexo(
                    "0002",
                    "DE.DEPOSITO",
                    "CAR.PANAMERICANA NORTE KM. 560 LA LIBERTAD - TRUJILLO - HUANCHACO",
                    "-",
                ),
            ],
            deudas: &[],
        },
        "20987654326" => Secondary {
            representantes: &[Representante {
                documento: "DNI",
                numero: "70654321",
                nombre: "PRUEBA GOMEZ LUIS ALBERTO",
                cargo: "GERENTE GENERAL",
                desde: "01/06/2019",
            }],
            periodos: &[],
            anexos: &[Anexo(
                "0003",
                "LO.LOCAL COMERCIAL",
                "JR. DE PRUEBA NRO. 123 LIMA - LIMA - LIMA",
                "4711 - VENTA AL POR MENOR EN COMERCIOS NO ESPECIALIZADOS",
            )],
            deudas: &[
                Deuda("15,482.30", "2023-08", "12/01/2024", "SUNAT"),
                Deuda("980.00", "2024-02", "05/06/2024", "SUNAT"),
            ],
        },
        "20493919271" => Secondary {
            anexos: MANY_ANNEXES,
            ..Secondary::default()
        },
        _ => Secondary::default(),
    }
}

/// Whether the result page of `ruc` shows the button of `action`.
pub fn has_button(ruc: &str, action: &str) -> bool {
    action != "getLocAnex" || !of(ruc).anexos.is_empty()
}

/// SUNAT's error page's message for the annexes of a taxpayer without any.
pub const NO_ANNEXES: &str = "No se encontr&oacute; informaci&oacute;n para locales anexos.";

/// The page of `action` for `ruc` (named `razon_social`; `pagina`, from
/// 0, of a paged list), or the message of the error page SUNAT answers it
/// with (no annexes), `None` for a page the replica does not render.
pub fn page(action: &str, ruc: &str, razon_social: &str, pagina: usize) -> Option<Result<String, &'static str>> {
    let data = of(ruc);
    let body = match action {
        "getRepLeg" => representantes(ruc, razon_social, data.representantes),
        "getCantTrab" => trabajadores(ruc, razon_social, data.periodos),
        "getLocAnex" if data.anexos.is_empty() => return Some(Err(NO_ANNEXES)),
        "getLocAnex" => anexos(ruc, razon_social, data.anexos, pagina),
        "getInfoDC" => deudas(ruc, razon_social, data.deudas),
        _ => return None,
    };
    Some(Ok(body))
}

fn document(title: &str, body: &str) -> String {
    super::pages::crlf(&format!(
        "\n\n<!DOCTYPE html>\n<html lang=\"es\">\n<head>\n\t<title>{title}</title>\n\t<meta charset=\"utf-8\">\n\
         \t<link href=\"/a/js/libs/bootstrap/3.3.1/css/bootstrap.min.css\" rel=\"stylesheet\">\n</head>\n\
         <body>\n<div class=\"container\">\n{body}\n</div>\n</body>\n</html>\n"
    ))
}

/// `formEnviar`, which every secondary page ends with.
fn footer(pagina: &str) -> String {
    format!(
        "\t<div class=\"divBotonera\">\n\t\t<button type=\"button\" class=\"btn btn-danger\" onclick=\"history.go(-1)\">Volver</button>\n\
         \t\t<button type=\"button\" class=\"btn btn-success\" onclick=\"Imprimible()\">Imprimir</button>\n\t</div>\n\
         \t<form name=\"formEnviar\" method=\"post\" action=\"jcrS00Alias\">\n\
         \t\t<input type=\"hidden\" name=\"pagina\" value=\"{pagina}\">\n\t\t<input type=\"hidden\" name=\"email\" value=\"\">\n\t</form>"
    )
}

fn representantes(ruc: &str, razon_social: &str, people: &[Representante]) -> String {
    let content = if people.is_empty() {
        "\t\t<div class=\"row\"><div class=\"col-sm-12\">\n\t\t\t<h4>No se encontr&oacute; informaci&oacute;n para representantes legales.</h4>\n\t\t</div></div>"
            .to_string()
    } else {
        let rows: String = people
            .iter()
            .map(|p| {
                format!(
                    "          <tr>\n            <td align=\"left\">\n               {}</td>\n            <td align=\"center\">\n               {:<12}</td>\n\
                     \x20           <td align=\"left\">\n               {:<100}</td>\n            <td align=\"left\">\n               {}</td>\n\
                     \t    <td align=\"left\">\n               {}</td>\n          </tr>\n",
                    p.documento,
                    p.numero,
                    escape(p.nombre),
                    escape(p.cargo),
                    p.desde
                )
            })
            .collect();
        format!(
            "\t\t<div class=\"row\"><div class=\"col-sm-12\">\n\t\t\t<h4>La informaci&oacute;n exhibida en esta consulta corresponde a lo declarado por el contribuyente ante la Administraci&oacute;n Tributaria.</h4>\n\
             \t\t</div></div>\n\t\t<div class=\"row\"><div class=\"col-sm-12\"><div class=\"table-responsive\">\n          <table class=\"table\">\n\
             \x20         <thead>\n          \t<tr>\n\t            <th scope=\"col\"><!--Tipo de -->Documento </th>\n\t            <th scope=\"col\">Nro. Documento </th>\n\
             \t            <th scope=\"col\">Nombre</th>\n\t            <th scope=\"col\">Cargo</th>\n\t\t    \t<th scope=\"col\">Fecha Desde</th>\n\
             \t    \t</tr>\n\t    </thead>\n          <tbody>\n{rows}          </tbody>\n          </table>\n\t\t</div></div></div>"
        )
    };
    let body = format!(
        "\t<div class=\"row\">\n        <div class=\"col-md-10 col-md-offset-1\">\n        \t<div>\n\t  \t\t\t<h1>REPRESENTANTES LEGALES DE {ruc} - {}</h1>\n\
         \t     </div>\n\t    </div>\n\t</div>\n<div class=\"panel panel-primary\">\n\t<div class=\"panel-heading\">Resultado de la B&uacute;squeda</div>\n\
         <div class=\"list-group-item\">\n{content}\n</div>\n</div>\n{}",
        escape(razon_social),
        footer("repLegales")
    );
    document("Documento sin t&iacute;tulo", &body)
}

fn trabajadores(ruc: &str, razon_social: &str, periodos: &[Periodo]) -> String {
    let content = if periodos.is_empty() {
        "\t\t\t\t  <div class=\"list-group\">\n\t\t\t\t  \t<h5>No existen declaraciones presentadas por el contribuyente consultado en los 12 &uacute;ltimos per&iacute;odos revisados hasta el mes anterior.</h5>\n\t\t\t\t  </div>"
            .to_string()
    } else {
        let rows: String = periodos
            .iter()
            .map(|Periodo(periodo, trabajadores, pensionistas, prestadores)| {
                format!(
                    "\t\t\t\t\t\t\t\t\t<tr>\n\t\t\t\t          \t\t\t<td align='center'>{periodo}</td>\n\
                     \t\t\t\t          \t\t\t\t<td align='center'>{trabajadores}</td>\n\t\t\t\t          \t\t\t\t<td align='center'>{pensionistas}</td>\n\
                     \t\t\t\t          \t\t\t\t<td align='center'>{prestadores}</td>\n\t\t\t\t          \t\t\t</tr>\n"
                )
            })
            .collect();
        format!(
            "\t\t\t\t  <div class=\"list-group\">\n\t\t\t\t  <div class=\"row\">\n\t        \t\t<div class=\"col-md-12\">\n\t        \t\t<div class=\"table-responsive\">\n\
             \t        \t<table class=\"table\">\n\t\t  \t\t\t<thead>\n\t\t          \t\t\t<tr>\n\
             \t\t            \t\t\t<th class='beta' valign='top' width='20%' nowrap><p align='center'>Per&iacute;odo</p></th>\n\
             \t\t            \t\t\t<!-- <th class='beta' valign='top' width='30%' nowrap><p align='center'>N&deg; de Trabajadores Dependientes </p></th> -->\n\
             \t\t            \t\t\t<th class='beta' valign='top' width='30%' nowrap><p align='center'>N&deg; de Trabajadores</p></th>\n\
             \t\t            \t\t\t<th class='beta' valign='top' width='30%' nowrap><p align='center'>N&deg; de Pensionistas</p></th>\n\
             \t\t            \t\t\t<th class='beta' valign='top' width='20%' nowrap><p align='center'>N&deg; de Prestadores de Servicio</p></th>\n\
             \t\t          \t\t\t</tr>\n\t\t          \t</thead>\n\t\t        <tbody>\n{rows}\t\t        </tbody>\n\t\t        </table>\n\
             \t\t\t\t</div></div></div></div>"
        )
    };
    let body = format!(
        "  \t  <div class=\"row\">\t\n      <div class=\"col-md-10 col-md-offset-1\">\n\t        \t<div>\n\
         \t        \t<h3>CANTIDAD DE TRABAJADORES Y/O PRESTADORES DE SERVICIO DE {ruc} -  {} </h3>\n\t\t\t</div>\n\t  </div>\n\t  </div>\n\
         \t  <div class=\"panel panel-primary\">\n\t\t  <div class=\"panel-heading\">Informaci&oacute;n de Trabajadores y/o Prestadores de Servicio</div>\n\
         \t\t  <h4>La informaci&oacute;n mostrada a continuaci&oacute;n corresponde a lo declarado por el contribuyente en la Planilla Electr&oacute;nica o PLAME ante la SUNAT.</h4>\n\
         {content}\n\t  </div>\n{}",
        escape(razon_social),
        footer("cantTrabajadores")
    );
    document("Cantidad de Trabajadores", &body)
}

/// The annexes' page `pagina`; a list longer than a page is paged as an
/// older open-source client saw it (`pagina` and `tamanioPagina` fields),
/// with `Páginas:` links that post the page's own form: the current site's
/// paging was never captured (`sunat-secondary.md`).
fn anexos(ruc: &str, razon_social: &str, anexos: &[Anexo], pagina: usize) -> String {
    let pages = anexos.len().div_ceil(ANNEXES_PER_PAGE);
    let rows: String = anexos
        .iter()
        .skip(pagina * ANNEXES_PER_PAGE)
        .take(ANNEXES_PER_PAGE)
        .map(|Anexo(codigo, tipo, direccion, actividad)| {
            format!(
                "\t\t\t<tr>\n\t\t\t\t<td>{codigo}</td>\n\t\t\t\t<td>{tipo}</td>\n\t\t\t\t<td>{}  </td>\n\t\t\t\t<td>{}</td>\n\t\t\t</tr>\n",
                escape(direccion),
                escape(actividad)
            )
        })
        .collect();
    let body = format!(
        "\t<div class=\"row\"><div class=\"col-md-10 col-md-offset-1\"><div>\n\t\t<h1>ESTABLECIMIENTOS ANEXOS DE {ruc} - {}</h1>\n\t</div></div></div>\n\
         <div class=\"panel panel-primary\">\n\t<div class=\"panel-heading\">Resultado de la B&uacute;squeda</div>\n<div class=\"list-group-item\">\n\
         \t\t<table class=\"table\">\n\t\t<thead><tr><th>C&oacute;digo</th><th>Tipo de Establecimiento</th><th>Direcci&oacute;n</th><th>Actividad Econ&oacute;mica</th></tr></thead>\n\
         \t\t<tbody>\n{rows}\t\t</tbody>\n\t\t</table>\n{}</div>\n</div>\n{}",
        escape(razon_social),
        paging(ruc, razon_social, pages),
        footer("locAnexos")
    );
    document("Establecimientos Anexos", &body)
}

/// `Páginas:` links for a list of `pages` pages, and the form they post.
fn paging(ruc: &str, razon_social: &str, pages: usize) -> String {
    if pages < 2 {
        return String::new();
    }
    let links: String = (0..pages)
        .map(|page| format!("<a href=\"javascript:paginacion({page})\">{}</a> ", page + 1))
        .collect();
    format!(
        "\t\t<div class=\"paginas\">P&aacute;ginas: {links}</div>\n\
         \t\t<form name=\"formPaginacion\" method=\"post\" action=\"jcrS00Alias\">\n\
         \t\t\t<input type=\"hidden\" name=\"accion\" value=\"getLocAnex\"><input type=\"hidden\" name=\"contexto\" value=\"ti-it\">\n\
         \t\t\t<input type=\"hidden\" name=\"modo\" value=\"1\"><input type=\"hidden\" name=\"nroRuc\" value=\"{ruc}\">\n\
         \t\t\t<input type=\"hidden\" name=\"desRuc\" value=\"{}\"><input type=\"hidden\" name=\"tamanioPagina\" value=\"{ANNEXES_PER_PAGE}\">\n\
         \t\t\t<input type=\"hidden\" name=\"pagina\" value=\"0\">\n\t\t</form>\n\
         \t\t<script>function paginacion(pagina) {{ document.formPaginacion.pagina.value = pagina; document.formPaginacion.submit(); }}</script>\n",
        escape(razon_social)
    )
}

fn deudas(ruc: &str, razon_social: &str, deudas: &[Deuda]) -> String {
    let content = if deudas.is_empty() {
        "\t\t<h4>No se ha remitido deuda en cobranza coactiva que corresponda al contribuyente consultado.</h4>"
            .to_string()
    } else {
        let rows: String = deudas
            .iter()
            .map(|Deuda(monto, periodo, inicio, entidad)| {
                format!(
                    "\t\t\t<tr>\n\t\t\t\t<td align=\"right\">{monto}</td>\n\t\t\t\t<td align=\"center\">{periodo}</td>\n\
                     \t\t\t\t<td align=\"center\">{inicio}</td>\n\t\t\t\t<td>{entidad}</td>\n\t\t\t</tr>\n"
                )
            })
            .collect();
        format!(
            "\t\t<div class=\"table-responsive\">\n\t\t<table class=\"table\">\n\t\t<thead><tr><th>Monto de la Deuda</th><th>Per&iacute;odo Tributario</th>\
             <th>Fecha de Inicio de Cobranza Coactiva</th><th>Entidad Asociada a la Deuda</th></tr></thead>\n\t\t<tbody>\n{rows}\t\t</tbody>\n\t\t</table>\n\t\t</div>"
        )
    };
    let body = format!(
        "\t<div class=\"row\"><div class=\"col-md-10 col-md-offset-1\"><div>\n\
         \t\t<h1>DEUDA COACTIVA REMITIDA A CENTRALES DE RIESGO DE {ruc} - {}</h1>\n\t</div></div></div>\n\
         <div class=\"panel panel-primary\">\n\t<div class=\"panel-heading\">Resultado de la B&uacute;squeda</div>\n<div class=\"list-group-item\">\n{content}\n</div>\n</div>\n{}",
        escape(razon_social),
        footer("deudaCoactiva")
    );
    document("Deuda Coactiva", &body)
}

/// HTML text, with the accents as entities (the way SUNAT's own markup
/// writes them), so that both charsets carry it.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            'Á' => escaped.push_str("&Aacute;"),
            'É' => escaped.push_str("&Eacute;"),
            'Í' => escaped.push_str("&Iacute;"),
            'Ó' => escaped.push_str("&Oacute;"),
            'Ú' => escaped.push_str("&Uacute;"),
            'Ñ' => escaped.push_str("&Ntilde;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_has_its_page_and_its_empty_state() {
        let name = "GOBIERNO REGIONAL LA LIBERTAD";
        let page = |action, ruc, name| page(action, ruc, name, 0).map(|page| page.unwrap_or_else(str::to_string));
        let people = page("getRepLeg", "20440374248", name).unwrap();
        assert!(people.contains("<h1>REPRESENTANTES LEGALES DE 20440374248 - GOBIERNO REGIONAL LA LIBERTAD</h1>"));
        assert!(people.contains("VEGA CHAVEZ ANA LUCIA") && people.contains("15/03/2023"));
        let nobody = page("getRepLeg", "10471234562", "X").unwrap();
        assert!(nobody.contains("No se encontr&oacute; informaci&oacute;n para representantes legales"));
        let workers = page("getCantTrab", "20440374248", name).unwrap();
        assert!(workers.contains("DE 20440374248 -  GOBIERNO REGIONAL LA LIBERTAD </h3>"));
        assert!(workers.contains("<td align='center'>NE</td>"));
        assert!(page("getCantTrab", "20987654326", "X")
            .unwrap()
            .contains("No existen declaraciones"));
        let annexes = page("getLocAnex", "20440374248", name).unwrap();
        assert!(annexes.contains("<td>SU.SUCURSAL</td>") && annexes.contains("AV. ESPA&Ntilde;A NRO. 1800"));
        assert_eq!(
            page("getLocAnex", "10471234562", "X").unwrap(),
            NO_ANNEXES,
            "SUNAT's error page"
        );
        let debts = page("getInfoDC", "20987654326", "X").unwrap();
        assert!(debts.contains("<td align=\"right\">15,482.30</td>"));
        assert!(page("getInfoDC", "20440374248", name)
            .unwrap()
            .contains("No se ha remitido deuda"));
        assert_eq!(page("getinfHis", "20440374248", name), None);
    }

    #[test]
    fn only_a_taxpayer_with_annexes_has_their_button() {
        assert!(has_button("20440374248", "getLocAnex"));
        assert!(!has_button("10471234562", "getLocAnex"));
        assert!(has_button("10471234562", "getRepLeg"));
    }
}
